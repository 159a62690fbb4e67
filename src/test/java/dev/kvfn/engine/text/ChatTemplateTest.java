package dev.kvfn.engine.text;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Real chat templates (as shipped in GGUF metadata of public models) render as Hugging Face renders them. */
class ChatTemplateTest {
    static final String CHATML = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content']"
            + " + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
    static final String LLAMA2 = "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
            + "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
            + "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
            + "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
            + "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
            + "{% if loop.index0 == 0 and system_message != false %}"
            + "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
            + "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}"
            + "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
            + "{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";
    static final String LLAMA3 = "{% set loop_messages = messages %}{% for message in loop_messages %}"
            + "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim"
            + " + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}"
            + "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

    static final List<ChatTemplate.Message> HELLO = List.of(new ChatTemplate.Message("system", "Be brief."),
            new ChatTemplate.Message("user", "Hi there"));

    @Test
    void chatMl() {
        assertEquals("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
                new ChatTemplate(CHATML, "", "").render(HELLO));
    }

    @Test
    void llama2WithSystemPrompt() {
        assertEquals("<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi there [/INST]",
                new ChatTemplate(LLAMA2, "<s>", "</s>").render(HELLO));
    }

    @Test
    void llama3() {
        assertEquals("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
                        + "<|start_header_id|>assistant<|end_header_id|>\n\n",
                new ChatTemplate(LLAMA3, "<|begin_of_text|>", "<|eot_id|>").render(List.of(new ChatTemplate.Message("user", "Hi there"))));
    }

    @Test
    void aTemplateThatRaisesRejectsTheConversation() {
        ChatTemplate t = new ChatTemplate(LLAMA2, "<s>", "</s>");
        List<ChatTemplate.Message> twoUsers = List.of(new ChatTemplate.Message("user", "a"), new ChatTemplate.Message("user", "b"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.render(twoUsers));
        assertTrue(e.getMessage().contains("alternate"), e.getMessage());
    }

    @Test
    void noTemplateOrAnUnrenderableOneFallsBackToChatMl() {
        String expected = ChatTemplate.chatMl(HELLO);
        ChatTemplate none = new ChatTemplate(null, "", "");
        assertFalse(none.fromModel());
        assertEquals(expected, none.render(HELLO));
        assertEquals(expected, new ChatTemplate("{% for m in messages %}{{ m['content'] }", "", "").render(HELLO));
    }
    static String one(String template) {
        return new ChatTemplate(template, "<s>", "</s>").renderModelTemplate(HELLO, List.of(), false);
    }

    @Test
    void pythonStringMethodsAndJinjaSyntaxThatJinjavaLacks() {
        // str.split keeps empty pieces (Java's String.split would drop the trailing one and read a regex)
        assertEquals("[a||]", one("{{ '[' + 'a|||'.split('|')[0] + '|' + 'a|'.split('|')[-1] + '|]' }}"));
        assertEquals("3", one("{{ ' a  b\tc '.split() | length }}"));
        assertEquals("TrueFalse".toLowerCase(), one("{{ 'abc'.startswith(('x', 'a')) }}{{ 'abc'.endswith('b') }}"));
        // keyword arguments with an expression, namespace and reversed slices
        assertEquals("1", one("{% set ns = namespace(last=messages|length - 1) %}{{ ns.last }}"));
        assertEquals("usersystem", one("{% for m in messages[::-1] %}{{ m.role }}{% endfor %}"));
        // tojson in Python's spelling, {{- -}} trimming
        assertEquals("{\"a\": [1, 2.5, \"é\"], \"b\": null}", one("{{ {'a': [1, 2.5, 'é'], 'b': none} | tojson }}"));
        assertEquals("ab", one("a  {{- 'b' -}}  \n"));
        assertEquals("x", one("{{ '\u3000x\u00a0 ' | trim }}"));
        assertEquals("Hello World_x|Ab c", one("{{ 'hello world_x'.title() }}|{{ 'ab c'.capitalize() }}"));
        assertEquals("<b=2>", one("{% macro m(a, b=none) %}<{{ a }}={{ b }}>{% endmacro %}{{ m('b', b=1 + 1) }}"));
    }

    @Test
    void toolCallsAndToolsReachTheTemplate() {
        var args = TemplateJson.MAPPER.createObjectNode().put("city", "Paris");
        var messages = List.of(new ChatTemplate.Message("user", "weather?"),
                new ChatTemplate.Message("assistant", "", List.of(new ToolCall("c1", "get_weather", args)), null),
                new ChatTemplate.Message("tool", "sunny", List.of(), "c1"));
        var tool = (com.fasterxml.jackson.databind.node.ObjectNode) TemplateJson.parse(
                "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\"}}");
        String t = "{% for t in tools %}{{ t | tojson }}{% endfor %}|{% for m in messages %}{% for c in m.tool_calls %}"
                + "{{ c.function.name }}{{ c.function.arguments | tojson }}{% endfor %}{{ m.tool_call_id }}{% endfor %}"
                + "{% if add_generation_prompt %}+{% endif %}";
        ChatTemplate template = new ChatTemplate(t, "", "");
        assertEquals("{\"type\": \"function\", \"function\": {\"name\": \"get_weather\"}}|get_weather{\"city\": \"Paris\"}c1+",
                template.renderModelTemplate(messages, List.of(new ToolDefinition("get_weather", args, tool)), true));
        assertEquals("|get_weather{\"city\": \"Paris\"}c1", template.renderModelTemplate(messages, List.of(), false));
    }
}
