/// One line of a watch stream, decoded.
public struct WatchEvent<Object: KubernetesResource>: Sendable {
    public enum Kind: String, Sendable { case added = "ADDED", modified = "MODIFIED", deleted = "DELETED", bookmark = "BOOKMARK", error = "ERROR" }

    public var kind: Kind
    /// The object (nil for bookmarks and errors).
    public var object: Object?
    /// The object as sent, without `kind`, `apiVersion` and `metadata.managedFields`.
    public var raw: [UInt8]
    /// A bookmark's or object's resourceVersion.
    public var resourceVersion: String
    /// For `ERROR`: the Status's code, reason and message.
    public var status: (code: Int, reason: String, message: String)?

    /// Decodes `{"type":...,"object":{...}}`; keys may come in either order. With an
    /// interner, the object's repeated values are shared (see `Interner`).
    public static func decode(_ line: [UInt8], interner: Interner? = nil) throws -> WatchEvent {
        var type = ""
        var objectRange: Range<Int>?
        try JSONScanner.decode(line) { s in
            try s.forEachMember { s, key in
                if key == "type" { type = try s.string() }
                else if key == "object" { objectRange = try s.rawValue() }
            }
        }
        guard let kind = Kind(rawValue: type) else { throw JSONError(offset: 0, "unknown watch event type \"\(type)\"") }
        guard let objectRange else { throw JSONError(offset: 0, "watch event without an object") }
        let objectBytes = line[objectRange]
        switch kind {
        case .error:
            var code = 0, reason = "", message = ""
            try JSONScanner.decode(objectBytes) { s in
                try s.forEachMember { s, key in
                    if key == "code" { code = Int(try s.int64()) }
                    else if key == "reason" { reason = try s.optionalString() ?? "" }
                    else if key == "message" { message = try s.optionalString() ?? "" }
                }
            }
            return WatchEvent(kind: kind, object: nil, raw: [], resourceVersion: "", status: (code, reason, message))
        case .bookmark:
            // Bookmarks carry only metadata.resourceVersion (spec and status may be null).
            var version = ""
            try JSONScanner.decode(objectBytes) { s in
                try s.forEachMember { s, key in
                    if key == "metadata" { try s.forEachMember { s, key in if key == "resourceVersion" { version = try s.string() } } }
                }
            }
            return WatchEvent(kind: kind, object: nil, raw: [], resourceVersion: version, status: nil)
        default:
            let object = try JSONScanner.decode(objectBytes) { s in
                s.interner = interner
                return try Object.decode(&s)
            }
            return WatchEvent(kind: kind, object: object, raw: try RawObject.stripped(objectBytes), resourceVersion: object.metadata.resourceVersion, status: nil)
        }
    }
}

/// Objects kept as the API server sent them, less what no reader needs: `kind` and
/// `apiVersion` (the resource API omits them, as the Resource Monitor did) and
/// `metadata.managedFields` (often half the object; client-go informers drop it too).
public enum RawObject {
    public static func stripped(_ bytes: some JSONBytes) throws -> [UInt8] {
        try bytes.withJSONBytes { buffer in
            let all = buffer.bindMemory(to: UInt8.self)
            var out: [UInt8] = []
            out.reserveCapacity(all.count)
            var scanner = JSONScanner(buffer)
            try copyObject(&scanner, all, &out, depth: 0)
            try scanner.expectEnd()
            return out
        }
    }

    private static func copyObject(_ s: inout JSONScanner, _ all: UnsafeBufferPointer<UInt8>, _ out: inout [UInt8], depth: Int) throws {
        out.append(UInt8(ascii: "{"))
        var first = true
        try s.forEachMember { s, key in
            let drop = (depth == 0 && (key == "kind" || key == "apiVersion")) || (depth == 1 && key == "managedFields")
            if drop { try s.skipValue(); return }
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: UnsafeBufferPointer(start: key.base, count: key.count))
            out.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
            let isObject = try s.peek() == UInt8(ascii: "{")
            if depth == 0 && key == "metadata" && isObject {
                try copyObject(&s, all, &out, depth: 1)
            } else {
                let range = try s.rawValue()
                out.append(contentsOf: all[range])
            }
        }
        out.append(UInt8(ascii: "}"))
    }
}

/// resourceVersions are opaque strings, but every API server backed by etcd uses the
/// revision number; when both parse, the larger is newer.
public func isNewer(_ a: String, than b: String) -> Bool {
    guard let x = UInt64(a), let y = UInt64(b) else { return a != b }
    return x > y
}
