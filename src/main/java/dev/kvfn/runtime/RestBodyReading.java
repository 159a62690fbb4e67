package dev.kvfn.runtime;

import io.quarkus.vertx.http.runtime.RouteConstants;
import io.vertx.core.http.HttpVersion;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.impl.RoutingContextInternal;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;

/**
 * Lets the REST resources under {@code /v1} read their own request bodies. Funqy asks Quarkus for a body
 * handler, which Quarkus installs on every route ({@code RouteConstants.ROUTE_ORDER_BODY_HANDLER}): it reads
 * the whole body, then hands the request on. Quarkus REST then pauses the request to read it itself; an
 * HTTP/1.1 request ignores a pause after its end, but an HTTP/2 one (h2c upgrade or prior knowledge: what the
 * JDK {@code HttpClient} and {@code curl --http2} send) throws "Request has already been read", and every POST
 * answered 500 (Quarkus issue 34393). Marking the body handler as seen for an HTTP/2 request to {@code /v1} makes
 * it step aside, so REST reads the body itself, as it does when no body handler exists. HTTP/1.1 keeps the body
 * handler: there REST's own read leaves the request paused after its end, the connection stops reading, and a
 * client that hangs up mid-stream would go unnoticed (its generation never cancelled). Funqy routes keep it.
 */
@ApplicationScoped
public class RestBodyReading {

    void install(@Observes Router router) {
        // ahead of the body handler, which runs at ROUTE_ORDER_BODY_HANDLER
        router.route().order(RouteConstants.ROUTE_ORDER_BODY_HANDLER - 1).handler(RestBodyReading::handle);
    }

    static void handle(RoutingContext ctx) {
        if (ctx.request().version() == HttpVersion.HTTP_2 && ctx.request().path().startsWith("/v1/")
                && ctx instanceof RoutingContextInternal internal) {
            internal.visitHandler(RoutingContextInternal.BODY_HANDLER);
        }
        ctx.next();
    }
}
