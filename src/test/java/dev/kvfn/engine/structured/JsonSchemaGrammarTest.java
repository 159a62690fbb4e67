package dev.kvfn.engine.structured;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The schema compiler: which texts each grammar accepts, and what it refuses to compile. */
class JsonSchemaGrammarTest {

    private static Grammar g(String schema) {
        return JsonSchemaGrammar.compile(schema.replace('\'', '"'));
    }

    private static void accepts(Grammar g, String... texts) {
        for (String t : texts) assertTrue(Grammars.accepts(g, t.replace('\'', '"')), "should accept: " + t);
    }

    private static void rejects(Grammar g, String... texts) {
        for (String t : texts) assertFalse(Grammars.accepts(g, t.replace('\'', '"')), "should reject: " + t);
    }

    @Test
    void objectWithRequiredAndOptionalPropertiesInOrder() {
        Grammar g = g("{'type':'object','properties':{'name':{'type':'string'},'age':{'type':'integer'},'tag':{'type':'boolean'}},"
                + "'required':['name'],'additionalProperties':false}");
        accepts(g, "{'name':'x'}", "{'name':'x','age':3}", "{'name':'','age':-12,'tag':true}", "{'name':'a','tag':false}",
                " { 'name' : 'Lily' , 'age' : 0 } ", "{'name':'caf\u00e9 \\n \\u00e9'}");
        rejects(g, "{}", "{'age':3}", "{'name':'x',}", "{'age':3,'name':'x'}", "{'name':'x','other':1}", "{'name':1}",
                "{'name':'x','age':1.5}", "{'name':'x','age':01}", "{'name':'x'", "{  'name':'x'}", "{'name':'x'}  ",
                "{'name':'a\u0001'}", "{'name':'\\ud800'}");
    }

    @Test
    void allOptionalPropertiesMayAllBeLeftOut() {
        Grammar g = g("{'type':'object','properties':{'a':{'type':'null'},'b':{'type':'number'}}}");
        accepts(g, "{}", "{ }", "{'a':null}", "{'b':1e5}", "{'a':null,'b':-0.25E-3}");
        rejects(g, "{,}", "{'a':null,}", "{,'b':1}", "{'b':1.}", "{'b':.5}", "{'b':1e}");
    }

    @Test
    void arraysEnumsConstAnyOfAndNullable() {
        Grammar g = g("{'type':'array','items':{'enum':['red','green',3,null]},'minItems':1,'maxItems':3}");
        accepts(g, "['red']", "['red',3,null]", "[ 'green' , 'red' ]");
        rejects(g, "[]", "['blue']", "['red','red','red','red']", "['re']", "[4]");
        Grammar c = g("{'const':{'k':[1,2]}}");
        accepts(c, "{'k':[1,2]}");
        rejects(c, "{'k':[1]}");
        Grammar any = g("{'anyOf':[{'type':'integer'},{'type':'string','maxLength':2}]}");
        accepts(any, "12", "'ab'", "''");
        rejects(any, "'abc'", "1.5");
        Grammar nullable = g("{'type':['string','null'],'minLength':2}");
        accepts(nullable, "null", "'ab'", "'\u00e9\u00e9'", "'\\n\\t'");
        rejects(nullable, "'a'", "'\u00e9'", "nul");
    }

    @Test
    void definitionsAndRecursion() {
        Grammar g = g("{'$defs':{'node':{'type':'object','properties':{'v':{'type':'integer'},'kids':{'type':'array',"
                + "'items':{'$ref':'#/$defs/node'}}},'required':['v']}},'$ref':'#/$defs/node'}");
        accepts(g, "{'v':1}", "{'v':1,'kids':[]}", "{'v':1,'kids':[{'v':2,'kids':[{'v':3}]},{'v':4}]}");
        rejects(g, "{'v':1,'kids':[{}]}", "{'kids':[]}");
    }

    @Test
    void anyJsonAndAnyObject() {
        Grammar value = JsonSchemaGrammar.anyValue();
        accepts(value, "1", "'s'", "[1,[2,{}],{'a':{'b':null}}]", "true", "-0.5e+10", "{'':[]}");
        rejects(value, "", "[1,]", "{'a'}", "tru", "{1:2}", "'a", "01");
        Grammar object = JsonSchemaGrammar.anyObject();
        accepts(object, "{}", "{'a':[1,2]}", " {'x':{'y':'z'}} ");
        rejects(object, "[]", "1", "'{}'");
        accepts(g("{}"), "[]", "3");
        accepts(g("{'type':'object'}"), "{'any':['thing']}");
        Grammar map = g("{'type':'object','additionalProperties':{'type':'integer'}}");
        accepts(map, "{}", "{'a':1,'b':2}");
        rejects(map, "{'a':'1'}");
    }

    @Test
    void numbersAndWhitespaceAreBounded() {
        Grammar n = g("{'type':'integer'}");
        accepts(n, "1234567890123456", "-1234567890123456");
        rejects(n, "12345678901234567");
        Grammar s = g("{'type':'string'}");
        rejects(s, "  'a'", "'a'  ", "\n'a'");
    }

    @Test
    void prefixesOfValidTextsStayAlive() {
        Grammar g = g("{'type':'object','properties':{'name':{'type':'string'}},'required':['name']}");
        assertTrue(Grammars.acceptsPrefix(g, "{\"na"));
        assertFalse(Grammars.acceptsPrefix(g, "{\"nb"));
        assertFalse(Grammars.accepts(g, "{\"name\":\"x"));
    }

    @Test
    void unsupportedKeywordsAreNamed() {
        for (String[] c : new String[][] {
                {"{'type':'string','pattern':'a+'}", "\"pattern\" at #"},
                {"{'type':'object','properties':{'a':{'type':'string','format':'email'}}}", "\"format\" at #/properties/a"},
                {"{'type':'integer','minimum':0}", "\"minimum\""},
                {"{'oneOf':[{'type':'string'}]}", "\"oneOf\""},
                {"{'type':'array','items':{'type':'string'},'uniqueItems':true}", "\"uniqueItems\""},
                {"{'$ref':'http://example.com/s.json'}", "\"$ref\""},
                {"{'type':'date'}", "unknown \"type\" \"date\""},
                {"{'type':'object','properties':{'a':{'type':'string'}},'required':['b']}", "\"b\""},
                {"{'allOf':[{'type':'string'},{'type':'null'}]}", "\"allOf\""},
                {"{'type':'string','maxLength':100000}", "\"maxLength\""},
                {"{'$ref':'#/$defs/x','type':'string','$defs':{'x':{'type':'string'}}}", "\"$ref\" together with \"type\""},
                {"{'$defs':{'a':{'$ref':'#/$defs/a'}},'$ref':'#/$defs/a'}", "no finite JSON value"},
                {"{'$defs':{'a':{'anyOf':[{'$ref':'#/$defs/a'},{'type':'null'}]}},'$ref':'#/$defs/a'}", "refers to itself"},
                {"{'type':'object','properties':{'me':{'$ref':'#'}},'required':['me']}", "no finite JSON value"},
                {"false", "false"}}) {
            var e = assertThrows(IllegalArgumentException.class, () -> g(c[0]), c[0]);
            assertTrue(e.getMessage().contains(c[1]), "message of " + c[0] + " names " + c[1] + ": " + e.getMessage());
        }
    }

    @Test
    void fixedTextAroundTheValue() {
        Grammar g = JsonSchemaGrammar.compile(SchemaCheck.parse("{\"type\":\"integer\"}"), "<call>", "</call>");
        accepts(g, "<call>12</call>", "<call> 12 </call>");
        rejects(g, "12", "<call>12", "<call>x</call>", "<call>12</call> ");
    }

    @Test
    void equalStatesAreEqual() {
        Grammar g = g("{'type':'array','items':{'type':'string'}}");
        ParseState a = ParseState.start(g).advance("[\"ab".getBytes()), b = ParseState.start(g).advance("[\"abcd".getBytes());
        assertEquals(a, b, "inside a string the state does not depend on how many characters came before");
        assertEquals(a.hashCode(), b.hashCode());
    }
}
