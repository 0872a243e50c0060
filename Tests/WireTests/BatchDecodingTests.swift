import Foundation
import SwiftProtobuf
import Testing
import TestSupport
@testable import Wire

/// What `BatchDecoding` returns must be what swift-protobuf decodes, and whatever it declines
/// swift-protobuf must still get right.
private func expectAgreement(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> Agent_V1_Batch? {
    let fast = BatchDecoding.batch(bytes)
    let reference = try? Agent_V1_Batch(serializedBytes: bytes)
    if let fast {
        #expect(fast == reference, "the fast decoder read \(bytes.count) bytes differently", sourceLocation: sourceLocation)
    }
    return fast
}

// MARK: - Wire writing for hand-made inputs

private func varint(_ value: UInt64) -> [UInt8] {
    var value = value, out: [UInt8] = []
    while value >= 0x80 { out.append(UInt8(value & 0x7f) | 0x80); value >>= 7 }
    return out + [UInt8(value)]
}
private func field(_ number: Int, varint value: UInt64) -> [UInt8] { varint(UInt64(number) << 3) + varint(value) }
private func field(_ number: Int, bytes: [UInt8]) -> [UInt8] { varint(UInt64(number) << 3 | 2) + varint(UInt64(bytes.count)) + bytes }

/// The agent's schema as protoc reads it: every message of `agent.v1` by full name.
private func agentSchema() throws -> [String: Google_Protobuf_DescriptorProto] {
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("batch-\(UUID().uuidString).pb")
    defer { try? FileManager.default.removeItem(at: out) }
    let result = try runCommand("protoc", ["--include_imports", "--descriptor_set_out=\(out.path)", "-I", "proto", "agent/v1/batch.proto"],
                                directory: Fixtures.packageRoot)
    #expect(result.status == 0, "protoc failed: \(result.stderr)")
    let set = try Google_Protobuf_FileDescriptorSet(serializedBytes: Data(contentsOf: out))
    var messages: [String: Google_Protobuf_DescriptorProto] = [:]
    func add(_ message: Google_Protobuf_DescriptorProto, prefix: String) {
        messages["\(prefix).\(message.name)"] = message
        for nested in message.nestedType { add(nested, prefix: "\(prefix).\(message.name)") }
    }
    for file in set.file { for message in file.messageType { add(message, prefix: ".\(file.package)") } }
    return messages
}

/// A message with every field of the schema set (repeated ones twice, maps with two entries),
/// written from the descriptor alone: a field added to batch.proto is in it without anyone
/// editing this test.
private func everyField(of name: String, in schema: [String: Google_Protobuf_DescriptorProto], depth: Int = 0) -> [UInt8] {
    guard let message = schema[name], depth < 8 else { return [] }
    var out: [UInt8] = []
    for f in message.field {
        let n = Int(f.number)
        let copies = f.label == .repeated ? 2 : 1
        for copy in 0..<copies {
            let value = UInt64(n * 1000 + copy + 1)
            switch f.type {
            case .string: out += field(n, bytes: Array("\(f.name)-\(copy)-ä".utf8))
            case .bytes: out += field(n, bytes: [10, 0, 0, UInt8(copy + 1)])
            case .message:
                let entry = schema[f.typeName]
                if entry?.options.mapEntry == true {
                    out += field(n, bytes: field(1, bytes: Array("key\(copy)".utf8)) + field(2, bytes: Array("value\(copy)".utf8)))
                } else {
                    out += field(n, bytes: everyField(of: f.typeName, in: schema, depth: depth + 1))
                }
            case .bool: out += field(n, varint: 1)
            case .enum: out += field(n, varint: UInt64(copy + 1))
            case .int32: out += field(n, varint: UInt64(bitPattern: -Int64(value)))  // negative: 10 bytes
            case .uint32, .uint64, .int64: out += field(n, varint: value << 20)
            default: Issue.record("\(name).\(f.name): type \(f.type) is not one the agent's schema used when this test was written")
            }
        }
    }
    return out
}

@Suite("Batch decoding without swift-protobuf's generic path")
struct BatchDecodingTests {
    @Test func everyFieldOfTheSchemaIsDecodedAsSwiftProtobufDoes() throws {
        let schema = try agentSchema()
        #expect(schema[".agent.v1.Batch"] != nil)
        let bytes = everyField(of: ".agent.v1.Batch", in: schema)
        // (Not #require on the call: it would print the whole input on failure.)
        let decoded = expectAgreement(bytes)
        #expect(decoded != nil, "a field of batch.proto is not in BatchDecoding")
        guard let fast = decoded else { return }
        // Nothing fell into unknown fields on swift-protobuf's side either.
        let reference = try Agent_V1_Batch(serializedBytes: bytes)
        #expect(reference.unknownFields.data.isEmpty)
        #expect(fast.pods.count == 2 && fast.pods[0].containers.count == 2 && fast.pods[0].labels.count == 2)
        #expect(fast.pods[0].containers[0].lastExitCode < 0)
        #expect(fast.pods[0].containers[0].pids.count == 2)
    }

    @Test func agentBatchesDecodeExactly() throws {
        for batch in [AgentBatchWireTests.sample, sampleBatch(pods: 40), Agent_V1_Batch()] {
            let bytes: [UInt8] = try batch.serializedBytes()
            let fast = try #require(expectAgreement(bytes))
            #expect(fast == batch)
        }
        // Explicit zeros of optional fields keep their presence.
        let fast = try #require(BatchDecoding.batch(try AgentBatchWireTests.sample.serializedBytes() as [UInt8]))
        #expect(fast.pods[0].usage.hasCpuUsageNanocores && !fast.pods[0].usage.hasMemoryWorkingSetBytes)
    }

    @Test func unpackedRepeatedNumbersAndUnnamedEnumValuesAreRead() throws {
        // pids 7 and 300 as two unpacked varints, then a packed run of 1 and 2; protocol 9 (unnamed).
        let container = field(1, bytes: Array("c".utf8)) + field(18, varint: 7) + field(18, varint: 300) + field(18, bytes: [1, 2])
        let connection = field(1, varint: 9) + field(2, varint: 1)
        let pod = field(1, bytes: Array("uid".utf8)) + field(25, bytes: container)
        let bytes = field(1, bytes: Array("n".utf8)) + field(11, bytes: pod) + field(12, bytes: connection)
        let fast = try #require(expectAgreement(bytes))
        #expect(fast.pods[0].containers[0].pids == [7, 300, 1, 2])
        #expect(fast.connections[0].protocol == .UNRECOGNIZED(9))
    }

    @Test func whatItDoesNotKnowGoesToSwiftProtobufWhole() throws {
        let base: [UInt8] = try AgentBatchWireTests.sample.serializedBytes()
        // A field of a newer agent (99), at the top and inside a pod: swift-protobuf keeps it.
        let newer = base + field(99, varint: 1)
        #expect(expectAgreement(newer) == nil)
        #expect(try !Agent_V1_Batch(serializedBytes: newer).unknownFields.data.isEmpty)
        let podWithNewField = field(1, bytes: Array("n".utf8)) + field(11, bytes: field(1, bytes: Array("u".utf8)) + field(60, bytes: [1]))
        #expect(expectAgreement(podWithNewField) == nil)
        // A known field with another wire type (swift-protobuf keeps it as unknown).
        #expect(expectAgreement(field(4, bytes: [1, 2])) == nil)
        // A singular message given twice: protobuf merges the two.
        let twice = field(5, bytes: field(1, varint: 10)) + field(5, bytes: field(2, varint: 20))
        #expect(expectAgreement(twice) == nil)
        let merged = try Agent_V1_Batch(serializedBytes: twice)
        #expect(merged.collectedAt.seconds == 10 && merged.collectedAt.nanos == 20)
        // A scalar given twice: the last one wins, on both paths.
        #expect(expectAgreement(field(4, varint: 1) + field(4, varint: 2))?.sequence == 2)
    }

    @Test func malformedBytesAreDeclinedNeverMisread() throws {
        let base: [UInt8] = try sampleBatch(pods: 3).serializedBytes()
        // Every truncation: declined, or (cut at a field boundary) exactly swift-protobuf's reading.
        for length in 0..<base.count { _ = expectAgreement(Array(base.prefix(length))) }
        // Invalid UTF-8 in a string: swift-protobuf refuses it, so must this.
        let invalid = field(1, bytes: [0x6e, 0xff, 0xfe])
        #expect(BatchDecoding.batch(invalid) == nil)
        #expect(throws: (any Error).self) { try Agent_V1_Batch(serializedBytes: invalid) }
        // An 11-byte varint, field number 0, a length past the end.
        #expect(expectAgreement([0x20] + [UInt8](repeating: 0xff, count: 10) + [0x01]) == nil)
        #expect(expectAgreement([0x00, 0x01]) == nil)
        #expect(expectAgreement([0x0a, 0x05, 0x61]) == nil)
    }

    @Test func mutatedBatchesNeverDisagree() throws {
        let base: [UInt8] = try sampleBatch(pods: 4).serializedBytes()
        var random = SplitMix(seed: 0x5eed)
        var read = 0
        for _ in 0..<3000 {
            var bytes = base
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let at = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<3, using: &random) {
                case 0: bytes[at] = UInt8.random(in: 0...255, using: &random)
                case 1: bytes.remove(at: at)
                default: bytes.insert(UInt8.random(in: 0...255, using: &random), at: at)
                }
            }
            if expectAgreement(bytes) != nil { read += 1 }
        }
        // Some mutations leave a valid batch (a changed value): the comparison was exercised.
        #expect(read > 100)
    }
}
