import Aggregator
import Hummingbird
import Kubernetes
import Synchronization

/// What a parameter's value must look like. One description serves both sides: the OpenAPI
/// document renders it as a JSON Schema and the server checks every value against it, so
/// that a value the document admits is never refused as malformed and one it forbids is
/// always a 400 that says what was expected.
public enum ParameterSchema: Sendable {
    /// A string that wholly matches `pattern` (ECMA-262 and Swift regex syntax alike), at
    /// most `maxLength` characters; `means` says it in words for error messages.
    case text(pattern: String, maxLength: Int, means: String)
    /// One of these strings.
    case oneOf([String])
    /// A decimal integer in this range.
    case integer(ClosedRange<Int64>)
    /// An RFC 3339 date-time (`format: date-time`).
    case dateTime

    /// Whether `value` is admitted.
    public func admits(_ value: String) -> Bool {
        switch self {
        case .text(let pattern, let maxLength, _):
            return value.unicodeScalars.count <= maxLength && ParameterPatterns.matches(pattern, value)
        case .oneOf(let values):
            return values.contains(value)
        case .integer(let range):
            guard ParameterPatterns.matches(ParameterPatterns.integer, value), let number = Int64(value) else { return false }
            return range.contains(number)
        case .dateTime:
            return ParameterPatterns.matches(ParameterPatterns.dateTime, value)
        }
    }

    /// The requirement in words: "<name> must be ...".
    public var requirement: String {
        switch self {
        case .text(_, _, let means): means
        case .oneOf(let values): "one of " + values.joined(separator: ", ")
        case .integer(let range): "an integer from \(range.lowerBound) to \(range.upperBound)"
        case .dateTime: "an RFC 3339 time such as 2026-01-02T15:04:05Z"
        }
    }

    /// The JSON Schema.
    func write(to w: inout JSONWriter) {
        w.beginObject()
        switch self {
        case .text(let pattern, let maxLength, _):
            w.field("type", "string"); w.field("pattern", pattern); w.field("maxLength", maxLength)
        case .oneOf(let values):
            w.field("type", "string")
            w.key("enum"); w.beginArray(); for value in values { w.value(value) }; w.endArray()
        case .integer(let range):
            w.field("type", "integer"); w.field("minimum", Int(range.lowerBound)); w.field("maximum", Int(range.upperBound))
        case .dateTime:
            w.field("type", "string"); w.field("format", "date-time")
        }
        w.endObject()
    }
}

/// One query (or path) parameter of an operation.
public struct APIParameter: Sendable {
    public var name: String
    public var description: String
    public var schema: ParameterSchema

    public init(_ name: String, _ description: String, _ schema: ParameterSchema) {
        self.name = name
        self.description = description
        self.schema = schema
    }

    /// The value, checked: a 400 naming the parameter and what it must be.
    func check(_ value: String) throws {
        guard schema.admits(value) else {
            throw APIFailure(.badRequest, "\(name) must be \(schema.requirement), got \"\(value.prefix(200))\"")
        }
    }
}

/// The regular expressions of the parameters, compiled once.
enum ParameterPatterns {
    static let dnsLabelPart = "[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
    /// A Kubernetes DNS label (namespaces, containers).
    static let dnsLabel = "^\(dnsLabelPart)$"
    /// A Kubernetes DNS subdomain (pods, nodes, most object names).
    static let dnsSubdomain = "^\(dnsLabelPart)(\\.\(dnsLabelPart))*$"
    static let integer = "^-?[0-9]+$"
    /// A whole number of seconds, minutes or hours: `30s`, `5m`, `1h`.
    static let duration = "^[1-9][0-9]{0,5}[smh]$"

    static let date = "([0-9]{4}-((0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])|(0[13-9]|1[0-2])-(29|30)|(0[13578]|1[02])-31)|([0-9]{2}(0[48]|[2468][048]|[13579][26])|(0[048]|[2468][048]|[13579][26])00)-02-29)"
    static let time = "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    /// RFC 3339's `date-time`, calendar included (no February 30th), without anchors.
    static let dateTimeBody = "\(date)[Tt]\(time)(\\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
    static let dateTime = "^\(dateTimeBody)$"
    /// Kube-App's times: RFC 3339, or `YYYY-MM-DD[ hh:mm:ss]` in UTC.
    static let kubeAppTime = "^(\(dateTimeBody)|\(date)( \(time))?)$"
    /// Kube-App's `limit` as a string: 1 to 1000000.
    static let kubeAppLimit = "^([1-9][0-9]{0,5}|1000000)$"

    /// A label key (`app`, `app.kubernetes.io/name`) and value, as Kubernetes validates them.
    static let labelName = "[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
    static let labelKey = "(\(dnsLabelPart)(\\.\(dnsLabelPart))*/)?\(labelName)"
    /// A selector: equality-based terms `a=b,c!=d,e==f,g,!h` and set-based ones
    /// `a in (x, y)`, `a notin (x)`.
    static let labelSelector = {
        let values = "\\(( *(\(labelName))? *)(,( *(\(labelName))? *))*\\)"
        let term = "(!?\(labelKey)|\(labelKey)(=|==|!=)(\(labelName))?|\(labelKey) (in|notin) \(values))"
        return "^\(term)(,\(term))*$"
    }()

    /// Each pattern compiled on first use.
    private static let compiled = Mutex<[String: Regex<AnyRegexOutput>]>([:])

    static func matches(_ pattern: String, _ value: String) -> Bool {
        let regex = compiled.withLock { table in
            if let known = table[pattern] { return known }
            // The patterns are constants of this module: one that does not compile is a bug.
            let made = try! Regex(pattern).matchingSemantics(.unicodeScalar)
            table[pattern] = made
            return made
        }
        return (try? regex.wholeMatch(in: value)) != nil
    }
}

extension ParameterSchema {
    static let namespace = ParameterSchema.text(pattern: ParameterPatterns.dnsLabel, maxLength: 63, means: "a namespace name (a DNS label)")
    static let container = ParameterSchema.text(pattern: ParameterPatterns.dnsLabel, maxLength: 63, means: "a container name (a DNS label)")
    static let objectName = ParameterSchema.text(pattern: ParameterPatterns.dnsSubdomain, maxLength: 253, means: "an object name (a DNS subdomain)")
    static let duration = ParameterSchema.text(pattern: ParameterPatterns.duration, maxLength: 8, means: "a whole number of seconds, minutes or hours such as 30s, 5m or 1h")
}

extension Request {
    /// The query parameters, each checked against its schema; parameters outside `allowed`
    /// (`token` is always allowed) are a 400 that names them.
    func checkedQuery(_ allowed: [APIParameter]) throws -> [String: String] {
        var result: [String: String] = [:]
        for (key, value) in uri.queryParameters {
            let name = String(key)
            if name == "token" { continue }
            guard let parameter = allowed.first(where: { $0.name == name }) else {
                let list = allowed.isEmpty ? "none" : allowed.map(\.name).joined(separator: ", ")
                throw APIFailure(.badRequest, "unknown parameter \"\(name)\" for \(uri.path); allowed: \(list)")
            }
            var text = String(value)
            // A selector's spaces (`app in (a, b)`) may come form-encoded as `+`, as Go's
            // servers (the API server's) read them; a selector never holds a `+` itself.
            if case .text(let pattern, _, _) = parameter.schema, pattern == ParameterPatterns.labelSelector {
                text = text.replacingOccurrences(of: "+", with: " ")
            }
            try parameter.check(text)
            result[name] = text
        }
        return result
    }
}
