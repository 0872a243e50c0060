import CZlib
import NIOCore

/// An object's JSON as the informer keeps it: deflated against a dictionary of other objects
/// of its kind from the same cluster.
///
/// A pod's JSON (without `managedFields`) is 3-5 KiB, and most of it is the same keys, volumes,
/// images and tolerations as its neighbours'. Alone, deflate brings it to about a third;
/// against a dictionary of a few sample pods it is about a tenth (~450 bytes), which is
/// most of what keeps 150,000 cached pods under 2 KiB each. Readers inflate only the objects
/// they return.
public struct StoredJSON: Sendable {
    /// Deflated bytes, or the JSON itself when `deflated` is false.
    let stored: [UInt8]
    let deflated: Bool
    /// Length of the JSON.
    public let count: Int
    let dictionary: DeflateDictionary?

    /// JSON kept as it is (tests, and objects that did not deflate).
    public init(_ json: [UInt8]) {
        stored = json
        deflated = false
        count = json.count
        dictionary = nil
    }

    init(deflated: [UInt8], count: Int, dictionary: DeflateDictionary?) {
        stored = deflated
        self.deflated = true
        self.count = count
        self.dictionary = dictionary
    }

    /// Bytes held for this object (what the cache costs, less the array's header).
    public var storedCount: Int { stored.count }

    /// The JSON.
    public func bytes() -> [UInt8] {
        guard deflated else { return stored }
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        var inflater = Inflater()
        inflater.write(self, into: &buffer)
        return Array(buffer.readableBytesView)
    }
}

/// Sample objects of one kind, for deflate to refer back to: keys, images, volumes and labels
/// that the kind's other objects repeat.
public final class DeflateDictionary: Sendable {
    public let bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// At most this many bytes: deflate looks back at most 32 KiB, and setting a dictionary
    /// costs time in proportion to its length for every object compressed.
    public static let defaultLimit = 16 * 1024

    /// The first object of each distinct (namespace, controller or name prefix) until `limit`
    /// bytes, so that a page of 500 replicas of one workload does not fill it alone.
    static func sampled(_ objects: [(group: String, json: [UInt8])], limit: Int = defaultLimit) -> DeflateDictionary? {
        var seen = Set<String>()
        var bytes: [UInt8] = []
        for object in objects where seen.insert(object.group).inserted {
            bytes += object.json
            if bytes.count >= limit { break }
        }
        guard !bytes.isEmpty else { return nil }
        // Deflate finds the last bytes of a dictionary cheapest to refer to.
        return DeflateDictionary(Array(bytes.suffix(limit)))
    }
}

/// Raw deflate with a reusable stream (one per informer, used by one task at a time).
public struct Deflater: ~Copyable {
    private let stream: UnsafeMutablePointer<z_stream>
    private var scratch: [UInt8] = []
    public var dictionary: DeflateDictionary?

    public init(dictionary: DeflateDictionary? = nil) {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        // Level 6: against a dictionary, levels 1-4 save little time and cost 10-40% in size.
        let status = clustermon_deflate_init(stream, 6)
        precondition(status == Z_OK, "zlib: deflateInit2 failed (\(status))")
        self.dictionary = dictionary
    }

    deinit {
        deflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// The JSON deflated against the dictionary; kept as it is if zlib refuses it.
    public mutating func compress(_ json: [UInt8]) -> StoredJSON {
        guard deflateReset(stream) == Z_OK else { return StoredJSON(json) }
        if let dictionary {
            let status = dictionary.bytes.withUnsafeBufferPointer { deflateSetDictionary(stream, $0.baseAddress, UInt32($0.count)) }
            guard status == Z_OK else { return StoredJSON(json) }
        }
        let bound = Int(deflateBound(stream, UInt(json.count)))
        if scratch.count < bound { scratch = [UInt8](repeating: 0, count: bound) }
        let z = stream
        let produced = json.withUnsafeBufferPointer { input -> Int? in
            scratch.withUnsafeMutableBufferPointer { output -> Int? in
                z.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
                z.pointee.avail_in = UInt32(input.count)
                z.pointee.next_out = output.baseAddress
                z.pointee.avail_out = UInt32(output.count)
                guard deflate(z, Z_FINISH) == Z_STREAM_END else { return nil }
                return output.count - Int(z.pointee.avail_out)
            }
        }
        guard let produced, produced < json.count else { return StoredJSON(json) }
        return StoredJSON(deflated: Array(scratch[0..<produced]), count: json.count, dictionary: dictionary)
    }
}

/// Inflates stored objects, reusing one stream for a whole response.
public struct Inflater: ~Copyable {
    private let stream: UnsafeMutablePointer<z_stream>

    public init() {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status = clustermon_inflate_init(stream)
        precondition(status == Z_OK, "zlib: inflateInit2 failed (\(status))")
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Appends the object's JSON to `buffer`. The deflated bytes were made by this process,
    /// so a failure here is a bug: it traps rather than serve a truncated object.
    public mutating func write(_ json: StoredJSON, into buffer: inout ByteBuffer) {
        guard json.deflated else {
            buffer.writeBytes(json.stored)
            return
        }
        var status = inflateReset(stream)
        if let dictionary = json.dictionary, status == Z_OK {
            status = dictionary.bytes.withUnsafeBufferPointer { inflateSetDictionary(stream, $0.baseAddress, UInt32($0.count)) }
        }
        let z = stream
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: json.count) { output in
            json.stored.withUnsafeBufferPointer { input in
                z.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
                z.pointee.avail_in = UInt32(input.count)
                z.pointee.next_out = output.baseAddress?.assumingMemoryBound(to: UInt8.self)
                z.pointee.avail_out = UInt32(json.count)
                if status == Z_OK { status = inflate(z, Z_FINISH) }
            }
            precondition(status == Z_STREAM_END && z.pointee.avail_out == 0, "zlib: a stored object did not inflate (\(status))")
            return json.count
        }
    }
}
