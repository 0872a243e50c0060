import Aggregator
import Foundation
import Hummingbird

/// Who may call an operation.
public enum AuthRule: String, Sendable {
    /// No credentials.
    case none
    /// Any valid JWT (`Authorization: Bearer` or `?token=`).
    case user
    /// A JWT with `is_admin: true`.
    case admin
    /// The deployment heartbeat's static token (Basic or `?token=`).
    case heartbeat
    /// Kube-App's `X-USERNAME`/`X-PASSWORD` (an admin), or any valid JWT.
    case kubeApp
}

/// What a server has, which decides the operations it serves: `clustermon dev` has no
/// API server, so no resource cache and no heartbeat, and its document says so.
public enum APIFeature: Sendable, Hashable, CaseIterable {
    /// Health, metrics and this document: always.
    case core
    /// The API server's cache: resources and the deployment heartbeat.
    case cluster
    /// Live node and pod metrics.
    case live
    /// The dependency graph.
    case graph
    /// The history: history queries and the accounting APIs.
    case history
    /// metrics.k8s.io from the agents' latest snapshots.
    case metricsAPI
}

/// One documented operation: the OpenAPI document and the auth-matrix test are both built
/// from this table, and a test holds it equal to the router's routes.
public struct APIOperation: Sendable {
    public var method: String
    /// OpenAPI path syntax (`{name}`).
    public var path: String
    public var summary: String
    public var auth: AuthRule
    public var parameters: [APIParameter]
    /// `application/json`, `text/event-stream`, `text/plain`, or `websocket`.
    public var produces: String
    public var schema: String?
    public var statuses: [Int]
    /// Another content type of a 200 (the allocation API's CSV).
    public var alsoProduces: String?
    /// The JSON body's schema, for a POST.
    public var requestBody: String?
    /// The schema of error bodies (Kube-App's `{code, message}` on its paths).
    public var errorSchema = "Error"
    /// What the server must have for the operation to be served (and documented).
    public var feature: APIFeature

    init(_ method: String, _ path: String, _ summary: String, auth: AuthRule, feature: APIFeature = .core, parameters: [APIParameter] = [],
         produces: String = "application/json", schema: String? = nil, statuses: [Int], alsoProduces: String? = nil,
         requestBody: String? = nil, errorSchema: String = "Error") {
        self.feature = feature
        self.method = method
        self.path = path
        self.summary = summary
        self.auth = auth
        self.parameters = parameters
        self.produces = produces
        self.schema = schema
        self.statuses = statuses
        self.alsoProduces = alsoProduces
        self.requestBody = requestBody
        self.errorSchema = errorSchema
    }
}

public enum OpenAPI {
    static func history(_ family: HistoryFamily) -> [APIParameter] {
        [
            .init("start", "RFC 3339; default end minus one hour; before end", .dateTime),
            .init("end", "RFC 3339; default now", .dateTime),
            .init("resolution", "default by span: <=1h raw, <=6h 1m, <=24h 5m, <=7d 15m, else 1h (1h also for windows older than the raw retention); not with step",
                  .oneOf(Resolution.allCases.map(\.rawValue))),
            .init("step", "seconds between points (30s, 5m, 1h); not with resolution; whole hours for windows older than the raw retention", .duration),
            .init("metric", "a catalog name: points become {t, value}", .oneOf(HistoryCatalog.names(family))),
            .init("agg", "with metric: how a bucket becomes one value; default avg (last for counters)", .oneOf(Aggregation.allCases.map(\.rawValue))),
        ]
    }
    static let resourceFilters: [APIParameter] = [
        .init("name", "exact object name", .objectName), .init("namespace", "exact namespace", .namespace),
        .init("label_selector", "label selector: a=b,c!=d,e==f,g (exists),!h (absent),i in (x, y),j notin (z)", labelSelectorSchema),
    ]
    static let podNode = APIParameter("node", "the node a pod runs on", .objectName)
    static let graphFilters: [APIParameter] = [
        .init("namespace", "edges with an end in this namespace (one of the caller's, else 403); with service: that service's namespace", .namespace),
        .init("service", "a vertex's neighbourhood: a Service name (with namespace), namespace/name, or a vertex id such as workload:shop/Deployment/cart; unknown: an empty graph",
              .text(pattern: "^[!-~]+$", maxLength: 512, means: "a Service name, namespace/name or a vertex id (printable ASCII, no spaces)")),
        .init("depth", "hops from service; default 1; needs service", .integer(1...Int64(GraphController.maxDepth))),
        .init("min_bytes", "leave out edges that moved fewer bytes (both ways) over the window", .integer(0...(1 << 53))),
        .init("top", "only the N heaviest edges", .integer(1...1_000_000)),
        .init("window", "rates over this much of the latest traffic, up to the longest window kept (--graph-max-window, default 15m; longer: 422); default --graph-window (1m)", .duration),
    ]
    static let graphPast: [APIParameter] = [
        .init("from", "RFC 3339: the graph of a past window from the history (before to; not with window)", .dateTime),
        .init("to", "RFC 3339; default now", .dateTime),
    ]
    static let podFilters: [APIParameter] = [
        .init("namespace", "one of the caller's namespaces (else 403)", .namespace), .init("node", "node name", .objectName),
    ]
    static let podHistory: [APIParameter] = history(.pod) + [
        .init("namespace", "one of the caller's namespaces (else 403)", .namespace), .init("pod", "pods of this name (in namespace when given)", .objectName),
    ]
    static let containerHistory: [APIParameter] = history(.container) + [
        .init("namespace", "one of the caller's namespaces (else 403)", .namespace), .init("pod", "pods of this name (in namespace when given)", .objectName),
        .init("container", "containers of this name", .container),
    ]

    static let allocationDuration = "[1-9][0-9]{0,5}[mh]|[1-9][0-9]{0,4}[dw]"
    static let allocationWindow = "^(today|yesterday|week|lastweek|month|lastmonth|\(allocationDuration)|[0-9]{1,11},[0-9]{1,11}|\(ParameterPatterns.dateTimeBody),\(ParameterPatterns.dateTimeBody))$"
    static let allocationKey = "(cluster|node|namespace|controllerKind|controller|pod|container|owner|label:[A-Za-z0-9/._-]+)"
    /// A value: quoted (non-empty, `\` escapes the next character) or bare (none of `",+`
    /// and no ASCII white space: `\s`, `\v` differ between regex dialects).
    static let filterValue = #"("([^"\\]|\\[\s\S])+"|[^",+ \t\n\r\x0B\x0C]+)"#
    static let filterClause = #"(namespace|node|controllerKind|controllerName|controller|pod|container|label\[[A-Za-z0-9/._-]+\])!?:"# + filterValue + "(," + filterValue + ")*"
    static let allocation: [APIParameter] = [
        .init("window", "today, yesterday, week (since Sunday 00:00 UTC), lastweek, month, lastmonth, a duration up to now (15m, 24h, 7d, 2w), <RFC3339>,<RFC3339> or <unix s>,<unix s>; never past now (a window wholly in the future: 422); default 24h",
              .text(pattern: allocationWindow, maxLength: 128, means: "today, yesterday, week, lastweek, month, lastmonth, a duration (15m, 24h, 7d, 2w), <RFC3339>,<RFC3339> or <unix seconds>,<unix seconds>")),
        .init("step", "a duration (30m, 1h, 1d, 1w) or day, week, month (calendar, UTC); default the whole window; more than 1000 steps: 422",
              .text(pattern: "^(day|week|month|\(allocationDuration))$", maxLength: 16, means: "a duration (30m, 1h, 1d, 1w) or day, week or month")),
        .init("aggregate", "comma-separated: cluster, node, namespace, controllerKind, controller, pod, container, owner, label:<key>; default one allocation per container",
              .text(pattern: "^\(allocationKey)(,\(allocationKey))*$", maxLength: 1024, means: "one or more of \(AllocationKey.names), comma-separated")),
        .init("accumulate", "true: the window as one step", .oneOf(["true", "false"])),
        .init("filter", "applied to containers before grouping: namespace:\"a\",\"b\"+label[app]:\"web\" (fields namespace, node, controllerKind, controllerName, pod, container, label[<key>]; !: negates; values quoted, with \\\" for a quote, or bare); a user naming another tenant's namespace: 403",
              .text(pattern: "^\(filterClause)(\\+\(filterClause))*$", maxLength: 4096,
                    means: "clauses such as namespace:\"a\",\"b\"+label[app]:\"web\" (fields namespace, node, controllerKind, controllerName, pod, container, label[<key>]; !: negates)")),
        .init("basis", "what cpuCoreHours and ramByteHours count: max (max of request and usage per container instance and step, default), usage or request",
              .oneOf(AllocationBasis.allCases.map(\.rawValue))),
        .init("format", "json (default) or csv", .oneOf(["json", "csv"])),
    ]
    static let labelSelectorSchema = ParameterSchema.text(pattern: ParameterPatterns.labelSelector, maxLength: 4096,
                                                          means: "a label selector such as app=web,tier!=db or app in (web, api)")
    static func fieldSelector(_ fields: String) -> ParameterSchema {
        let term = "metadata\\.(\(fields))(=|==|!=)[a-z0-9.-]{0,253}"
        return .text(pattern: "^\(term)(,\(term))*$", maxLength: 1024, means: "metadata.<\(fields)> with =, == or !=, comma-separated")
    }
    static let nodeMetricsSelectors: [APIParameter] = [
        .init("labelSelector", "the nodes' labels (from the API server): a=b,c!=d,e,!f,g in (x, y),h notin (z)", labelSelectorSchema),
        .init("fieldSelector", "metadata.name=<node> (=, == or !=)", fieldSelector("name")),
    ]
    static let podMetricsSelectors: [APIParameter] = [
        .init("labelSelector", "the pods' labels (from the API server): a=b,c!=d,e,!f,g in (x, y),h notin (z)", labelSelectorSchema),
        .init("fieldSelector", "metadata.name or metadata.namespace (=, == or !=), comma-separated", fieldSelector("name|namespace")),
    ]

    /// The path parameters' schemas, by name.
    static let pathSchemas: [String: ParameterSchema] = ["name": .objectName, "namespace": .namespace,
                                                         "file": .text(pattern: "^[A-Za-z0-9_-]{1,64}\\.[a-z]{1,8}$", maxLength: 73, means: "a file name such as app.js")]

    /// Every operation the aggregator serves.
    public static let operations: [APIOperation] = {
        let refused = "a bad parameter (400) or parameters that cannot be answered together (422)"
        var ops: [APIOperation] = [
            .init("get", "/healthz", "Liveness: `ok`. With a heartbeat token (Basic or ?token=): the API server check of the deployment heartbeat (200 with an empty body, or 503 with the reason).", auth: .none, produces: "text/plain", statuses: [200, 401, 403, 429, 503], errorSchema: "HeartbeatAnswer"),
            .init("head", "/healthz", "Liveness, without a body.", auth: .none, produces: "text/plain", statuses: [200, 401, 403, 429, 503], errorSchema: "HeartbeatAnswer"),
            .init("get", "/readyz", "Ready when informers have synced and NATS is connected; otherwise 503 with what is missing.", auth: .none, produces: "text/plain", statuses: [200, 503]),
            .init("get", "/metrics", "Prometheus text exposition.", auth: .none, produces: "text/plain", statuses: [200]),
            .init("get", "/", "Redirects to the web UI (`Location: /web/`).", auth: .none, produces: "", statuses: [302]),
            .init("get", "/web", "The web UI: the app's page (every `/web/...` path answers it, and its script renders the page the path names; the pages sign in).", auth: .none, produces: "text/html", statuses: [200, 304]),
            .init("get", "/web/assets/{file}", "One of the web UI's files (ES modules, CSS, SVG), gzip-compressed when accepted, with an ETag (text/javascript, text/css or image/svg+xml).", auth: .none, produces: "*/*", statuses: [200, 304, 404]),
            .init("head", "/web/assets/{file}", "The file's headers.", auth: .none, produces: "*/*", statuses: [200, 304, 404]),
            .init("get", "/api/session", "The web UI's session (or any caller): who it is.", auth: .user, schema: "Session", statuses: [200, 400, 401]),
            .init("post", "/api/session", "Signs in to the web UI with a JWT or with Kube-App's API_USERNAME/API_PASSWORD (an admin): sets an HttpOnly, SameSite=Strict cookie holding a session token (at most 8 hours, never beyond the JWT), which the API accepts for GET and HEAD. 401: refused; 415: not application/json.",
                  auth: .none, schema: "Session", statuses: [200, 400, 401, 413, 415], requestBody: "SessionRequest"),
            .init("delete", "/api/session", "Signs out of the web UI: the session cookie is cleared.", auth: .none, schema: "SignedOut", statuses: [200]),
            .init("get", "/openapi.json", "This document: the operations this server serves.", auth: .none, statuses: [200]),
            .init("get", "/cluster-info", "Every node's live metrics.", auth: .admin, feature: .live, schema: "ClusterInfo", statuses: [200, 400, 401, 403]),
            .init("get", "/pod-metrics", "The caller's pods' live metrics.", auth: .user, feature: .live, parameters: podFilters, schema: "PodMetricsList", statuses: [200, 400, 401, 403]),
            .init("get", "/sse/health", "Server-sent events: `{\"type\":\"cluster\",\"payload\":ClusterInfo}` (admins only) and `{\"type\":\"pods\",\"payload\":PodMetricsList}` per refresh.", auth: .user, feature: .live, parameters: podFilters, produces: "text/event-stream", statuses: [200, 400, 401, 403, 503]),
            .init("get", "/sse/cluster-info", "Server-sent events: a ClusterInfo per refresh.", auth: .admin, feature: .live, produces: "text/event-stream", schema: "ClusterInfo", statuses: [200, 400, 401, 403, 503]),
            .init("get", "/sse/pod-metrics", "Server-sent events: the caller's pods (a bare array of PodMetrics) per refresh.", auth: .user, feature: .live, parameters: podFilters, produces: "text/event-stream", statuses: [200, 400, 401, 403, 503]),
            .init("get", "/ws/cluster-info", "WebSocket: text frames, a ClusterInfo per refresh, the current one first. Without an upgrade request: 426.", auth: .admin, feature: .live, produces: "websocket", schema: "ClusterInfo", statuses: [101, 400, 401, 403, 426, 503]),
            .init("get", "/ws/pod-metrics", "WebSocket: text frames, the caller's pods (a bare array of PodMetrics) per refresh. Without an upgrade request: 426.", auth: .user, feature: .live, parameters: podFilters, produces: "websocket", statuses: [101, 400, 401, 403, 426, 503]),
            .init("get", "/api/metrics/nodes", "Node history: cpu, mem and disk percents, or `metric`. 422: \(refused).", auth: .admin, feature: .history, parameters: history(.node), schema: "History", statuses: [200, 400, 401, 403, 422]),
            .init("get", "/api/metrics/nodes/{name}", "One node's history.", auth: .admin, feature: .history, parameters: history(.node), schema: "History", statuses: [200, 400, 401, 403, 404, 422]),
            .init("get", "/api/metrics/pods", "Pod history keyed `<namespace>/<pod>`: cpu in nanocores, mem and disk in bytes, or `metric`; the caller's namespaces only.", auth: .user, feature: .history,
                  parameters: podHistory, schema: "History", statuses: [200, 400, 401, 403, 422]),
            .init("get", "/api/metrics/containers", "Container history keyed `<namespace>/<pod>/<container>`, points {t, value} of `metric` (default cpu/usage_rate); the caller's namespaces only.", auth: .user, feature: .history,
                  parameters: containerHistory, schema: "History", statuses: [200, 400, 401, 403, 422]),
            .init("get", "/api/graph/dependencies", "The service dependency graph: `{\"nodes\":[{\"id\",\"label\",\"type\"}],\"edges\":[{\"id\",\"source\",\"target\",\"type\",\"label\"}]}` with traffic on every edge. Admins see every vertex; users the edges touching their namespaces, other tenants as one anonymous `other` vertex.", auth: .user, feature: .graph,
                  parameters: graphFilters + graphPast, schema: "Graph", statuses: [200, 400, 401, 403, 422]),
            .init("get", "/sse/graph", "Server-sent events: the (filtered) dependency graph every refresh.", auth: .user, feature: .graph, parameters: graphFilters,
                  produces: "text/event-stream", schema: "Graph", statuses: [200, 400, 401, 403, 422, 503]),
            .init("get", "/api/healthz/{namespace}/deployment/{name}", "Deployment heartbeat: 200 with an empty body when Available, 503 with the reason, 404 when unknown; rate-limited per client (X-RateLimit-*).", auth: .heartbeat, feature: .cluster, produces: "", statuses: [200, 401, 403, 404, 429, 503], errorSchema: "HeartbeatAnswer"),
            .init("head", "/api/healthz/{namespace}/deployment/{name}", "Deployment heartbeat without a body.", auth: .heartbeat, feature: .cluster, produces: "", statuses: [200, 401, 403, 404, 429, 503], errorSchema: "HeartbeatAnswer"),
        ]
        ops.append(.init("get", "/api/v2/allocation", "Usage per step and group, exact from the history's counters (OpenCost's allocation fields, plus cpuCoreNanoseconds, coverage, containerInstances, restarts; costs with --prices). Users: their namespaces only; Kube-App's X-USERNAME/X-PASSWORD act as an admin.",
                         auth: .user, feature: .history, parameters: allocation, schema: "AllocationResponse", statuses: [200, 400, 401, 403, 422, 500], alsoProduces: "text/csv"))
        ops.append(.init("post", "/api/v2/allocation", "The allocation API with its parameters as a JSON object (strings; accumulate may be a boolean).",
                         auth: .user, feature: .history, schema: "AllocationResponse", statuses: [200, 400, 401, 403, 422, 500], alsoProduces: "text/csv", requestBody: "AllocationRequest"))
        let metricsAPI = "metrics.k8s.io/v1beta1 as metrics-server serves it (kubectl top, the HPA), from the agents' latest snapshots; errors are Kubernetes Status objects. Over HTTPS with a requestheader CA, the API server's front proxy may instead name the user (its client certificate, X-Remote-User): the API server then decides by a SubjectAccessReview (403 when denied, 503 when it cannot be asked)"
        ops += [
            .init("get", "/metrics/resource", "The kubelet's resource metrics (node_, pod_, container_cpu_usage_seconds_total, _memory_working_set_bytes, container_start_time_seconds) for every node, pod and container, with a node label and the agents' sample timestamps, and the dependency graph's edges as counters (clustermon_edge_*): Prometheus text format.",
                  auth: .admin, feature: .metricsAPI, produces: "text/plain", statuses: [200, 400, 401, 403]),
            .init("get", "/apis", "API discovery: the groups served (metrics.k8s.io).", auth: .user, feature: .metricsAPI, schema: "APIGroupList", statuses: [200, 400, 401, 403, 503], errorSchema: "Status"),
            .init("get", "/apis/metrics.k8s.io", "API discovery: the metrics.k8s.io group.", auth: .user, feature: .metricsAPI, schema: "APIGroup", statuses: [200, 400, 401, 403, 503], errorSchema: "Status"),
            .init("get", "/apis/metrics.k8s.io/v1beta1", "API discovery: nodes and pods.", auth: .user, feature: .metricsAPI, schema: "APIResourceList", statuses: [200, 400, 401, 403, 503], errorSchema: "Status"),
            .init("get", "/apis/metrics.k8s.io/v1beta1/nodes", "NodeMetricsList: \(metricsAPI).", auth: .admin, feature: .metricsAPI, parameters: nodeMetricsSelectors,
                  schema: "K8sNodeMetricsList", statuses: [200, 400, 401, 403, 503], errorSchema: "Status"),
            .init("get", "/apis/metrics.k8s.io/v1beta1/nodes/{name}", "NodeMetrics of one node; 404 when it has no metrics.", auth: .admin, feature: .metricsAPI,
                  schema: "K8sNodeMetrics", statuses: [200, 400, 401, 403, 404, 503], errorSchema: "Status"),
            .init("get", "/apis/metrics.k8s.io/v1beta1/pods", "PodMetricsList of the caller's namespaces: \(metricsAPI).", auth: .user, feature: .metricsAPI, parameters: podMetricsSelectors,
                  schema: "K8sPodMetricsList", statuses: [200, 400, 401, 403, 503], errorSchema: "Status"),
            .init("get", "/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods", "PodMetricsList of one namespace (the caller's, else 403).", auth: .user, feature: .metricsAPI,
                  parameters: podMetricsSelectors, schema: "K8sPodMetricsList", statuses: [200, 400, 401, 403, 503], errorSchema: "Status"),
            .init("get", "/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods/{name}", "PodMetrics of one pod; 404 when it has no metrics.", auth: .user, feature: .metricsAPI,
                  schema: "K8sPodMetrics", statuses: [200, 400, 401, 403, 404, 503], errorSchema: "Status"),
        ]
        for metric in KubeApp.metrics {
            ops.append(.init("post", "/api/\(metric)", "Kube-App: \(metric) (\(HistoryCatalog.unit(metric))). Raw rows newest first, or with agg one sum per group (the value integrated over the window in minutes; a counter's increase). X-USERNAME/X-PASSWORD (API_USERNAME/API_PASSWORD, an admin) or a JWT (a user: own namespaces only). As Kube-App, any other method is 400 `{\"code\":400,\"message\":\"Bad request\"}`.",
                             auth: .kubeApp, feature: .history, schema: "KubeAppAnswer", statuses: [200, 400, 401, 403, 500], requestBody: "KubeAppRequest", errorSchema: "KubeAppMessage"))
        }
        for name in ["pods", "nodes", "services", "ingress", "pvcs", "deployments"] {
            let filters = resourceFilters + (name == "pods" ? [podNode] : [])
            // Cluster-scoped kinds (nodes) belong to no namespace: admins only.
            let auth: AuthRule = name == "nodes" ? .admin : .user
            let summary = "Cached \(name) as the API server sent them, sorted by namespace and name" + (auth == .user ? "; users see their own namespaces only." : "; admins only.")
            ops.append(.init("get", "/api/resources/\(name)", summary, auth: auth, feature: .cluster, parameters: filters, schema: "Items", statuses: [200, 400, 401, 403, 503]))
            ops.append(.init("get", "/\(name)", "The Kubernetes Resource Monitor's path for /api/resources/\(name).", auth: auth, feature: .cluster, parameters: filters, schema: "Items", statuses: [200, 400, 401, 403, 503]))
        }
        return ops
    }()

    static let schemas = #"""
    {"Error":{"type":"object","required":["error"],"properties":{"error":{"type":"string"}}},
     "Session":{"type":"object","required":["user_id","username","admin","api_server"],"properties":{"user_id":{"type":"string"},"username":{"type":"string"},"admin":{"type":"boolean"},
       "api_server":{"type":"boolean","description":"whether this server watches the API server (/api/resources/*, the heartbeat)"},
       "expires":{"type":"string","format":"date-time","description":"when the session cookie ends (sign-in only)"}}},
     "SessionRequest":{"oneOf":[{"type":"object","required":["token"],"additionalProperties":false,"properties":{"token":{"type":"string","description":"a JWT"}}},
       {"type":"object","required":["username","password"],"additionalProperties":false,"properties":{"username":{"type":"string"},"password":{"type":"string"}}}],
       "description":"a token, or a username and password"},
     "SignedOut":{"type":"object","required":["signed_out"],"properties":{"signed_out":{"type":"boolean"}}},
     "Status":{"type":"object","required":["kind","apiVersion","status","message","reason","code"],"properties":{"kind":{"type":"string","enum":["Status"]},"apiVersion":{"type":"string"},
       "metadata":{"type":"object"},"status":{"type":"string"},"message":{"type":"string"},"reason":{"type":"string"},"details":{"type":"object"},"code":{"type":"integer"}}},
     "GroupVersion":{"type":"object","required":["groupVersion","version"],"properties":{"groupVersion":{"type":"string"},"version":{"type":"string"}}},
     "APIGroup":{"type":"object","required":["name","versions","preferredVersion"],"properties":{"kind":{"type":"string"},"apiVersion":{"type":"string"},"name":{"type":"string"},
       "versions":{"type":"array","items":{"$ref":"#/components/schemas/GroupVersion"}},"preferredVersion":{"$ref":"#/components/schemas/GroupVersion"}}},
     "APIGroupList":{"type":"object","required":["kind","groups"],"properties":{"kind":{"type":"string"},"apiVersion":{"type":"string"},"groups":{"type":"array","items":{"$ref":"#/components/schemas/APIGroup"}}}},
     "APIResourceList":{"type":"object","required":["kind","groupVersion","resources"],"properties":{"kind":{"type":"string"},"apiVersion":{"type":"string"},"groupVersion":{"type":"string"},
       "resources":{"type":"array","items":{"type":"object","required":["name","namespaced","kind","verbs"],"properties":{"name":{"type":"string"},"singularName":{"type":"string"},
         "namespaced":{"type":"boolean"},"kind":{"type":"string"},"verbs":{"type":"array","items":{"type":"string"}}}}}}},
     "ResourceUsage":{"type":"object","required":["cpu","memory"],"properties":{"cpu":{"type":"string","description":"canonical quantity, e.g. 137052385n"},"memory":{"type":"string","description":"canonical quantity, e.g. 1426520Ki"}}},
     "MetricsMetadata":{"type":"object","required":["name","creationTimestamp"],"properties":{"name":{"type":"string"},"namespace":{"type":"string"},
       "creationTimestamp":{"type":"string","format":"date-time"},"labels":{"type":"object","additionalProperties":{"type":"string"}}}},
     "K8sNodeMetrics":{"type":"object","required":["metadata","timestamp","window","usage"],"properties":{"kind":{"type":"string"},"apiVersion":{"type":"string"},
       "metadata":{"$ref":"#/components/schemas/MetricsMetadata"},"timestamp":{"type":"string","format":"date-time"},"window":{"type":"string","description":"a Go duration, e.g. 10.062s"},
       "usage":{"$ref":"#/components/schemas/ResourceUsage"}}},
     "K8sNodeMetricsList":{"type":"object","required":["kind","apiVersion","metadata","items"],"properties":{"kind":{"type":"string","enum":["NodeMetricsList"]},"apiVersion":{"type":"string"},
       "metadata":{"type":"object"},"items":{"type":"array","items":{"$ref":"#/components/schemas/K8sNodeMetrics"}}}},
     "K8sPodMetrics":{"type":"object","required":["metadata","timestamp","window","containers"],"properties":{"kind":{"type":"string"},"apiVersion":{"type":"string"},
       "metadata":{"$ref":"#/components/schemas/MetricsMetadata"},"timestamp":{"type":"string","format":"date-time"},"window":{"type":"string"},
       "containers":{"type":"array","items":{"type":"object","required":["name","usage"],"properties":{"name":{"type":"string"},"usage":{"$ref":"#/components/schemas/ResourceUsage"}}}}}},
     "K8sPodMetricsList":{"type":"object","required":["kind","apiVersion","metadata","items"],"properties":{"kind":{"type":"string","enum":["PodMetricsList"]},"apiVersion":{"type":"string"},
       "metadata":{"type":"object"},"items":{"type":"array","items":{"$ref":"#/components/schemas/K8sPodMetrics"}}}},
     "HeartbeatAnswer":{"anyOf":[{"$ref":"#/components/schemas/Error"},{"type":"object","required":["status","reason"],"properties":{
       "status":{"type":"string","enum":["unavailable","not_found","unknown"]},"reason":{"type":"string"},
       "ready_replicas":{"type":"string"},"desired_replicas":{"type":"string"}}}]},
     "Condition":{"type":"object","properties":{"type":{"type":"string"},"status":{"type":"string"}}},
     "NodeMetrics":{"type":"object","required":["name","cpu_usage","cpu_capacity","cpu_percent","memory_usage","memory_capacity","memory_percent","disk_usage","disk_capacity","disk_percent","conditions"],"properties":{
       "name":{"type":"string"},"cpu_usage":{"type":"string","description":"quantity, e.g. 500m"},"cpu_capacity":{"type":"string","description":"quantity, e.g. 4"},
       "cpu_percent":{"type":"number"},"memory_usage":{"type":"string","description":"quantity, e.g. 2Gi"},"memory_capacity":{"type":"string"},"memory_percent":{"type":"number"},
       "disk_usage":{"type":"integer","description":"bytes"},"disk_capacity":{"type":"integer","description":"bytes"},"disk_percent":{"type":"number"},
       "conditions":{"type":"array","items":{"$ref":"#/components/schemas/Condition"}},
       "stale":{"type":"boolean","description":"the node's agent has been silent for more than three intervals"},
       "last_seen":{"type":"string","format":"date-time"},"pods":{"type":"integer"},"collector_errors":{"type":"array","items":{"type":"string"}},
       "gpu_count":{"type":"integer","description":"GPUs NVML reports; absent on nodes without GPUs"},"gpu_memory_usage":{"type":"integer","description":"bytes, all devices"},
       "gpu_memory_capacity":{"type":"integer","description":"bytes, all devices"},"gpu_percent":{"type":"number","description":"the devices' mean utilization"}}},
     "PodMetrics":{"type":"object","required":["name","namespace","node","cpu_usage","cpu_capacity","memory_usage","memory_capacity","disk_usage","disk_capacity"],"properties":{
       "name":{"type":"string"},"namespace":{"type":"string"},"node":{"type":"string"},
       "cpu_usage":{"type":"integer","description":"nanocores"},"cpu_capacity":{"type":"integer","description":"the node's, nanocores"},
       "memory_usage":{"type":"integer","description":"working set bytes"},"memory_capacity":{"type":"integer","description":"the node's, bytes"},
       "disk_usage":{"type":"integer","description":"ephemeral storage bytes"},"disk_capacity":{"type":"integer"},
       "cpu_request":{"type":"integer","description":"nanocores"},"cpu_limit":{"type":"integer"},"memory_request":{"type":"integer"},"memory_limit":{"type":"integer"},
       "restarts":{"type":"integer"},"oom_killed":{"type":"boolean"},
       "workload":{"type":"object","properties":{"kind":{"type":"string"},"name":{"type":"string"}}},"stale":{"type":"boolean"},
       "gpu_request":{"type":"integer","description":"GPU devices requested (nvidia.com/gpu, nvidia.com/mig-*, amd.com/gpu...); the gpu_ fields are absent for pods without GPUs"},
       "gpu_memory_usage":{"type":"integer","description":"GPU memory of its processes, bytes"},
       "gpu_utilization":{"type":"integer","description":"SM utilization of its processes, percent of one GPU summed over devices"}}},
     "ClusterInfo":{"type":"object","properties":{"timestamp":{"type":"string","format":"date-time"},"nodes":{"type":"array","items":{"$ref":"#/components/schemas/NodeMetrics"}}}},
     "PodMetricsList":{"type":"object","properties":{"timestamp":{"type":"string","format":"date-time"},"pods":{"type":"array","items":{"$ref":"#/components/schemas/PodMetrics"}}}},
     "History":{"type":"object","properties":{"start":{"type":"string","format":"date-time"},"end":{"type":"string","format":"date-time"},
       "resolution":{"type":"string","enum":["raw","1m","5m","15m","1h"]},"step":{"type":"string","description":"with step: seconds between points, e.g. 300s"},
       "series":{"type":"object","additionalProperties":{"type":"array","items":{"type":"object","properties":{
         "t":{"type":"string","format":"date-time"},"cpu":{"type":"number","description":"without metric"},"mem":{"type":"number","description":"without metric"},
         "disk":{"type":"number","description":"without metric"},"value":{"type":"number","description":"with metric, in the metric's unit"}}}}}}},
     "GraphNode":{"type":"object","required":["id","label","type"],"properties":{"id":{"type":"string","description":"service:ns/name, workload:ns/Kind/name, pod:ns/name, node:name, external:address or other"},
       "label":{"type":"string","description":"the name; for an external, its reverse-DNS name when known"},"type":{"type":"string","enum":["service","workload","pod","node","external","other"]},
       "namespace":{"type":"string"},"kind":{"type":"string","description":"a workload's kind"}}},
     "GraphEdge":{"type":"object","required":["id","source","target","type","label"],"properties":{"id":{"type":"string"},"source":{"type":"string","description":"the client vertex"},"target":{"type":"string","description":"the server vertex"},
       "type":{"type":"string","enum":["tcp","udp"]},"label":{"type":"string","description":"e.g. TCP 5432"},"protocol":{"type":"string"},"port":{"type":"integer","description":"the server port the client dialled (a Service's port for a ClusterIP)"},
       "bytes_sent_per_second":{"type":"number","description":"client to server"},"bytes_received_per_second":{"type":"number","description":"server to client"},
       "bytes":{"type":"number","description":"both ways over the window"},"active_connections":{"type":"integer"},"new_connections_per_second":{"type":"number"},
       "retransmits_per_second":{"type":"number"},"rtt_ms":{"type":"number","description":"when the tracer reports RTT"}}},
     "Graph":{"type":"object","properties":{"timestamp":{"type":"string","format":"date-time"},"window_seconds":{"type":"number"},
       "nodes":{"type":"array","items":{"$ref":"#/components/schemas/GraphNode"}},"edges":{"type":"array","items":{"$ref":"#/components/schemas/GraphEdge"}}}},
     "Items":{"type":"object","properties":{"items":{"type":"array","items":{"type":"object"}}}},
     "KubeAppMessage":{"type":"object","required":["code","message"],"properties":{"code":{"type":"integer"},"message":{"type":"string"}}},
     "KubeAppRequest":{"type":"object","additionalProperties":false,"properties":{
       "namespace":{"type":"string","minLength":1,"description":"default: default"},
       "limit":{"description":"raw rows at most, 1 to 1000000; default 100","oneOf":[{"type":"integer","minimum":1,"maximum":1000000},{"type":"string","pattern":"KUBEAPP_LIMIT"}]},
       "agg":{"type":"string","enum":["pod-by-namespace","all-pod","all-namespace"]},
       "timeBeginInterval":{"type":"string","pattern":"KUBEAPP_TIME","description":"RFC 3339 or YYYY-MM-DD[ hh:mm:ss] (UTC), exclusive; default an hour before the end; at or after the end: an empty set"},
       "timeEndInterval":{"type":"string","pattern":"KUBEAPP_TIME","description":"as timeBeginInterval, exclusive; default now"}}},
     "KubeAppRow":{"type":"object","required":["time","value","type","pod_name","namespace_name"],"properties":{
       "time":{"type":"string","format":"date-time"},"value":{"type":"number"},"type":{"type":"string","enum":["pod_container","pod"]},
       "pod_name":{"type":"string"},"namespace_name":{"type":"string"},"container_name":{"type":"string","nullable":true},
       "nodename":{"type":"string","nullable":true},"labels":{"type":"string","description":"the pod's labels, k:v,k:v"},
       "container_base_image":{"type":"string","nullable":true},"cluster_name":{"type":"string","nullable":true},
       "gpu_uuid":{"type":"string","nullable":true,"description":"gpu/* metrics only: the container's GPUs (comma-separated when several)"},
       "gpu_name":{"type":"string","nullable":true},"gpu_index":{"type":"string","nullable":true}}},
     "KubeAppSum":{"type":"object","required":["time","sum","namespace_name"],"properties":{
       "time":{"type":"string","format":"date-time","description":"the window's beginning"},"sum":{"type":"number"},
       "namespace_name":{"type":"string"},"pod_name":{"type":"string","description":"not with all-namespace"}}},
     "KubeAppAnswer":{"oneOf":[{"type":"array","items":{"$ref":"#/components/schemas/KubeAppRow"}},{"type":"array","items":{"$ref":"#/components/schemas/KubeAppSum"}},{"$ref":"#/components/schemas/KubeAppMessage"}]},
     "AllocationRequest":ALLOCATION_REQUEST,
     "Allocation":{"type":"object","properties":{"name":{"type":"string"},
       "properties":{"type":"object","properties":{"cluster":{"type":"string"},"node":{"type":"string"},"namespace":{"type":"string"},"controllerKind":{"type":"string"},
         "controller":{"type":"string"},"pod":{"type":"string"},"container":{"type":"string"}},"description":"those every member shares"},
       "window":{"type":"object","properties":{"start":{"type":"string","format":"date-time"},"end":{"type":"string","format":"date-time"}}},
       "start":{"type":"string","format":"date-time","description":"first sample in the window"},"end":{"type":"string","format":"date-time","description":"last sample in the window"},
       "minutes":{"type":"number","description":"observed minutes"},"cpuCoreRequestAverage":{"type":"number"},"cpuCoreUsageAverage":{"type":"number"},
       "cpuCoreUsageMax":{"type":"number","description":"the highest one-hour (or edge part-hour) average"},"cpuCoreHours":{"type":"number","description":"by basis"},
       "cpuCoreNanoseconds":{"type":"integer","description":"usage, exact"},"cpuEfficiency":{"type":"number"},"ramByteRequestAverage":{"type":"number"},
       "ramByteUsageAverage":{"type":"number","description":"working set"},"ramByteUsageMax":{"type":"number"},"ramByteHours":{"type":"number","description":"by basis"},
       "ramEfficiency":{"type":"number"},"gpuCount":{"type":"number","description":"GPUs held on average while it ran (a MIG profile as its share of a GPU)"},
       "gpuHours":{"type":"number","description":"GPUs requested x hours"},"gpuUsageAverage":{"type":"number","description":"SM activity in GPUs on average (one GPU busy half the time: 0.5)"},
       "gpuMemoryByteHours":{"type":"number","description":"GPU memory held x hours"},"networkReceiveBytes":{"type":"integer"},
       "networkTransferBytes":{"type":"integer"},"pvBytes":{"type":"number"},"pvByteHours":{"type":"number"},"totalEfficiency":{"type":"number"},
       "coverage":{"type":"number","minimum":0,"maximum":1},"containerInstances":{"type":"integer"},"restarts":{"type":"integer"},
       "cpuCost":{"type":"number"},"ramCost":{"type":"number"},"gpuCost":{"type":"number"},"networkCost":{"type":"number"},"totalCost":{"type":"number"}}},
     "AllocationResponse":{"type":"object","required":["code","status","data","meta"],"properties":{"code":{"type":"integer"},"status":{"type":"string"},
       "data":{"type":"array","description":"one map per step","items":{"type":"object","additionalProperties":{"$ref":"#/components/schemas/Allocation"}}},
       "meta":{"type":"object","properties":{"window":{"type":"object"},"step":{"type":"string","nullable":true},"basis":{"type":"string"},"accumulate":{"type":"boolean"},"units":{"type":"object"}}}}}}
    """#

    static let reasons: [Int: String] = [
        101: "switching to WebSocket", 200: "OK", 302: "found elsewhere (Location)", 304: "not modified (the ETag matched)",
        413: "the body is too large", 415: "the body is not application/json", 400: "a malformed or unknown parameter (the body says which)", 401: "no valid credentials",
        403: "not allowed for this caller", 404: "not found", 422: "parameters each well-formed that cannot be answered together (the body says why)",
        426: "a WebSocket path asked without an upgrade", 429: "rate limit exceeded", 500: "the history could not be read",
        503: "not ready, unavailable, or too many open streams",
    ]

    /// The OpenAPI 3.0 document.
    /// The allocation API's body: its query parameters as fields (`accumulate` also a boolean).
    static var allocationRequest: String {
        var w = JSONWriter(capacity: 4096)
        w.beginObject()
        w.field("type", "object"); w.field("additionalProperties", false)
        w.key("properties"); w.beginObject()
        for parameter in allocation {
            w.key(parameter.name)
            if parameter.name == "accumulate" {
                w.beginObject(); w.key("oneOf"); w.beginArray()
                w.beginObject(); w.field("type", "boolean"); w.endObject()
                parameter.schema.write(to: &w)
                w.endArray(); w.endObject()
            } else {
                parameter.schema.write(to: &w)
            }
        }
        w.endObject(); w.endObject()
        return String(decoding: w.bytes, as: UTF8.self)
    }

    /// The operations a server with these features serves.
    public static func operations(serving features: Set<APIFeature>) -> [APIOperation] {
        operations.filter { features.contains($0.feature) }
    }

    /// The OpenAPI 3.0 document of a server with these features.
    public static func document(version: String = "0.1.0", features: Set<APIFeature> = Set(APIFeature.allCases)) -> [UInt8] {
        var w = JSONWriter(capacity: 32 * 1024)
        w.beginObject()
        w.field("openapi", "3.0.3")
        w.key("info"); w.beginObject()
        w.field("title", "clustermon aggregator API"); w.field("version", version)
        w.field("description", "Live node and pod metrics, history, usage accounting (Kube-App's API and the allocation API), cached Kubernetes resources and the deployment heartbeat. JWT (HS256/384/512, JWT_SECRET) in `Authorization: Bearer` or `?token=`; on the accounting paths also Kube-App's X-USERNAME/X-PASSWORD.")
        w.endObject()
        w.key("paths"); w.beginObject()
        var byPath: [String: [APIOperation]] = [:]
        for op in operations(serving: features) { byPath[op.path, default: []].append(op) }
        for path in byPath.keys.sorted() {
            w.key(path); w.beginObject()
            for op in byPath[path]! {
                w.key(op.method); w.beginObject()
                w.field("summary", op.summary)
                w.field("x-auth", op.auth.rawValue)
                switch op.auth {
                case .user, .admin:
                    w.key("security"); w.beginArray()
                    w.beginObject(); w.key("bearer"); w.beginArray(); w.endArray(); w.endObject()
                    w.beginObject(); w.key("queryToken"); w.beginArray(); w.endArray(); w.endObject()
                    w.endArray()
                case .kubeApp:
                    w.key("security"); w.beginArray()
                    w.beginObject(); w.key("kubeAppUser"); w.beginArray(); w.endArray(); w.key("kubeAppPassword"); w.beginArray(); w.endArray(); w.endObject()
                    w.beginObject(); w.key("bearer"); w.beginArray(); w.endArray(); w.endObject()
                    w.beginObject(); w.key("queryToken"); w.beginArray(); w.endArray(); w.endObject()
                    w.endArray()
                case .heartbeat:
                    w.key("security"); w.beginArray()
                    w.beginObject(); w.key("basic"); w.beginArray(); w.endArray(); w.endObject()
                    w.beginObject(); w.key("queryToken"); w.beginArray(); w.endArray(); w.endObject()
                    w.endArray()
                case .none: break
                }
                let pathParameters = path.split(separator: "/").filter { $0.hasPrefix("{") }.map { String($0.dropFirst().dropLast()) }
                w.key("parameters"); w.beginArray()
                for name in pathParameters {
                    w.beginObject(); w.field("name", name); w.field("in", "path"); w.field("required", true)
                    w.key("schema"); (pathSchemas[name] ?? .objectName).write(to: &w); w.endObject()
                }
                for parameter in op.parameters {
                    w.beginObject(); w.field("name", parameter.name); w.field("in", "query"); w.field("description", parameter.description)
                    w.key("schema"); parameter.schema.write(to: &w); w.endObject()
                }
                w.endArray()
                if let body = op.requestBody {
                    w.key("requestBody"); w.beginObject()
                    // Only a sign-in has nothing to go by without its body.
                    w.field("required", body == "SessionRequest")
                    w.key("content"); w.beginObject(); w.key("application/json"); w.beginObject()
                    w.key("schema"); w.beginObject(); w.field("$ref", "#/components/schemas/\(body)"); w.endObject()
                    w.endObject(); w.endObject()
                    w.endObject()
                }
                w.key("responses"); w.beginObject()
                for status in op.statuses {
                    w.key(String(status)); w.beginObject()
                    w.field("description", reasons[status] ?? "")
                    if status == 200 || status == 101 {
                        if op.produces != "websocket" && !op.produces.isEmpty {
                            w.key("content"); w.beginObject(); w.key(op.produces); w.beginObject()
                            if let schema = op.schema {
                                w.key("schema"); w.beginObject(); w.field("$ref", "#/components/schemas/\(schema)"); w.endObject()
                            }
                            w.endObject()
                            if let also = op.alsoProduces { w.key(also); w.beginObject(); w.key("schema"); w.beginObject(); w.field("type", "string"); w.endObject(); w.endObject() }
                            w.endObject()
                        }
                    } else if status >= 400 {
                        w.key("content"); w.beginObject(); w.key("application/json"); w.beginObject()
                        w.key("schema"); w.beginObject(); w.field("$ref", "#/components/schemas/\(op.errorSchema)"); w.endObject()
                        w.endObject(); w.endObject()
                    }
                    w.endObject()
                }
                w.endObject()
                w.endObject()
            }
            w.endObject()
        }
        w.endObject()
        w.key("components"); w.beginObject()
        w.key("securitySchemes"); w.beginObject()
        w.key("bearer"); w.beginObject(); w.field("type", "http"); w.field("scheme", "bearer"); w.field("bearerFormat", "JWT"); w.endObject()
        w.key("basic"); w.beginObject(); w.field("type", "http"); w.field("scheme", "basic"); w.endObject()
        w.key("queryToken"); w.beginObject(); w.field("type", "apiKey"); w.field("in", "query"); w.field("name", "token"); w.endObject()
        w.key("kubeAppUser"); w.beginObject(); w.field("type", "apiKey"); w.field("in", "header"); w.field("name", "X-USERNAME"); w.endObject()
        w.key("kubeAppPassword"); w.beginObject(); w.field("type", "apiKey"); w.field("in", "header"); w.field("name", "X-PASSWORD"); w.endObject()
        w.endObject()
        // The body schemas' patterns are the server's own (JSON-escaped).
        let escaped = { (pattern: String) in pattern.replacingOccurrences(of: "\\", with: "\\\\") }
        let body = schemas.replacingOccurrences(of: "KUBEAPP_LIMIT", with: escaped(ParameterPatterns.kubeAppLimit))
            .replacingOccurrences(of: "KUBEAPP_TIME", with: escaped(ParameterPatterns.kubeAppTime))
        w.key("schemas"); w.raw(Array(body.replacingOccurrences(of: "ALLOCATION_REQUEST", with: allocationRequest).utf8))
        w.endObject()
        w.endObject()
        return w.bytes
    }
}

/// `/openapi.json`.
struct OpenAPIController {
    let features: Set<APIFeature>

    func addRoutes(to router: Router<APIContext>) {
        let document = OpenAPI.document(features: features)
        router.get("/openapi.json") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: document)))
        }
    }
}
