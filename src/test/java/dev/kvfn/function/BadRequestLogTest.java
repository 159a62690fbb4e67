package dev.kvfn.function;

import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A client's bad request is the client's mistake: what reaches the console (through the console's
 * {@code funqy-client-errors} filter) has nothing at WARN or above and no stack trace, for malformed bodies on both
 * APIs and an event type no function takes.
 */
@QuarkusTest
class BadRequestLogTest {

    @Test
    void badRequestsLogNoStackTraceAndNothingAtWarn() {
        var log = new DisconnectTest.Captured();
        Logger.getLogger("").addHandler(log);
        try {
            given().contentType(ContentType.JSON).body("{not json").post("/generate").then().statusCode(400);
            given().contentType(ContentType.JSON).body("{\"prompt\": [1, 2]}").post("/generate").then().statusCode(400);
            given().contentType(ContentType.JSON).body("{not json").post("/v1/chat/completions").then().statusCode(400);
            given().contentType(ContentType.JSON).body("{\"prompt\": \"\"}").post("/v1/completions").then().statusCode(400);
            given().contentType(ContentType.JSON).header("ce-id", "x1").header("ce-specversion", "1.0")
                    .header("ce-type", "dev.kvfn.nothing").header("ce-source", "test").body("{}").post("/").then().statusCode(400);
            given().contentType(ContentType.JSON).header("ce-id", "x2").header("ce-specversion", "1.0")
                    .header("ce-type", "dev.kvfn.generate").header("ce-source", "test").body("{not json").post("/").then().statusCode(400);
        } finally {
            Logger.getLogger("").removeHandler(log);
        }
        List<LogRecord> seen = new ArrayList<>(log.records);
        FunqyClientErrorsFilter console = new FunqyClientErrorsFilter();
        for (LogRecord r : seen) {
            if (!console.isLoggable(r)) continue; // dropped before the console, as configured
            assertTrue(r.getLevel().intValue() < Level.WARNING.intValue(),
                    "a bad request logged at " + r.getLevel() + ": " + r.getLoggerName() + " " + r.getMessage());
            assertTrue(r.getThrown() == null, "a bad request logged a stack trace: " + r.getLoggerName() + " " + r.getMessage());
        }
    }
}
