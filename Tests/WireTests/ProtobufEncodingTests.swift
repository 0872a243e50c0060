import Foundation
import SwiftProtobuf
import Testing
@testable import Wire

/// `ProtobufEncoding` must write exactly what swift-protobuf writes: same bytes, same size.
private func expectSameEncoding(_ message: some Message, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let reference: [UInt8] = try message.serializedBytes()
    let bytes = try ProtobufEncoding.serializedBytes(message)
    #expect(bytes == reference, "\(bytes.count) bytes, swift-protobuf wrote \(reference.count)", sourceLocation: sourceLocation)
    #expect(try ProtobufEncoding.serializedSize(message) == reference.count, sourceLocation: sourceLocation)
}

/// A batch using every kind of field the agent's schema has, nested four levels deep.
func sampleBatch(pods: Int) -> Agent_V1_Batch {
    Agent_V1_Batch.with { batch in
        batch.nodeName = "node-ä-1"  // non-ASCII: lengths are UTF-8 bytes
        batch.agentVersion = "1.2.3"
        batch.agentInstance = "abcd"
        batch.sequence = 1 << 40
        batch.collectedAt = .with { $0.seconds = 1_700_000_000; $0.nanos = 999_999_999 }
        batch.intervalMs = 10_000
        batch.partCount = 1
        batch.node = .with { node in
            node.memoryTotalBytes = 64 << 30
            node.filesystems = [.with { $0.capacityBytes = 1 << 40; $0.usedBytes = 0; $0.inodes = 12345 }]
            node.interfaces = [.with { $0.rxBytes = UInt64.max; $0.txBytes = 127 }, .with { $0.rxBytes = 128 }]
        }
        batch.pods = (0..<pods).map { index in
            Agent_V1_Pod.with { pod in
                pod.uid = "uid-\(index)"
                pod.name = "web-\(index)"
                pod.namespace = "shop"
                pod.ips = ["10.0.0.\(index % 250)", "fd00::\(index)"]
                pod.hostNetwork = index % 7 == 0
                pod.owners = [.with { $0.kind = "ReplicaSet"; $0.name = "web-5d9c"; $0.controller = true }]
                pod.conditions = [.with { $0.type = "Ready"; $0.status = "True" }]
                pod.labels = ["app": "web", "pod-template-hash": "5d9c", "tier": String(repeating: "x", count: index)]
                pod.netnsInode = 4_026_531_840 + UInt64(index)
                pod.listening = [.with { $0.protocol = .udp; $0.address = Data([0, 0, 0, 0]); $0.port = 53 }]
                pod.usage = .with { $0.cpuUsageNanocores = 0; $0.memoryWorkingSetBytes = UInt64(index) << 20 }
                pod.ephemeralStorageUsedBytes = 0  // optional and zero: still written
                pod.containers = (0..<2).map { c in
                    Agent_V1_Container.with {
                        $0.name = "c\(c)"
                        $0.id = String(repeating: "ab", count: 32)
                        $0.lastExitCode = -1  // negative int32: a 10-byte varint
                        $0.pids = [1, 127, 128, UInt32.max]
                        $0.ports = [.with { $0.port = 8080; $0.protocol = "TCP" }]
                        $0.usage = .with { $0.cpuUsageCoreNanoseconds = UInt64(index * 1_000_003) }
                        $0.memoryLimitBytes = 512 << 20
                    }
                }
            }
        }
        batch.connections = [.with {
            $0.protocol = .tcp
            $0.family = .ipv6
            $0.localAddress = Data(repeating: 0xfe, count: 16)
            $0.remotePort = 443
            $0.source = .tracer
            $0.countersKnown = true
            $0.rttMicros = 0
        }]
        batch.collectors = [.with { $0.name = "kubelet"; $0.ok = false; $0.error = String(repeating: "e", count: 300) }]
    }
}

@Suite("Protobuf encoding that sizes nested messages once")
struct ProtobufEncodingTests {
    @Test func agentBatchIsByteForByteSwiftProtobufs() throws {
        let batch = sampleBatch(pods: 40)
        try expectSameEncoding(batch)
        let decoded = try Agent_V1_Batch(serializedBytes: try ProtobufEncoding.serializedBytes(batch))
        #expect(decoded == batch)
        for pod in batch.pods { try expectSameEncoding(pod) }
    }

    @Test func emptyAndDefaultMessagesAreEmpty() throws {
        #expect(try ProtobufEncoding.serializedBytes(Agent_V1_Batch()) == [])
        #expect(try ProtobufEncoding.serializedSize(Agent_V1_Batch()) == 0)
        // A present but empty nested message is a tag and a zero length.
        try expectSameEncoding(Agent_V1_Batch.with { $0.node = .init() })
        #expect(try ProtobufEncoding.serializedBytes(Agent_V1_Batch.with { $0.node = .init() }) == [0x52, 0x00])
    }

    @Test func clusterEventsMatch() throws {
        try expectSameEncoding(Cluster_ClusterMetrics.with {
            $0.metadata = .with { $0.eventID = "e"; $0.timestamp = .with { $0.seconds = -62_135_596_800; $0.nanos = 1 } }
            $0.nodes = [.with { $0.name = "n"; $0.cpuPercent = 12.5; $0.memoryPercent = -0.0; $0.diskPercent = .infinity }]
        })
    }

    /// swift-protobuf's own well-known and descriptor types cover what the agent's schema
    /// does not: maps of messages, floats, proto2 packed int32, groups of oneofs.
    @Test func wellKnownAndDescriptorTypesMatch() throws {
        let value = try Google_Protobuf_Struct(jsonString: #"{"a": 1.5, "b": [true, null, "s", {"c": {"d": []}}], "e": {}}"#)
        try expectSameEncoding(value)
        try expectSameEncoding(Google_Protobuf_FloatValue(3.25))
        try expectSameEncoding(Google_Protobuf_Int32Value(-7))
        try expectSameEncoding(Google_Protobuf_Int64Value(Int64.min))
        try expectSameEncoding(Google_Protobuf_BytesValue(Data([0, 1, 2, 255])))
        let file = Google_Protobuf_FileDescriptorProto.with {
            $0.name = "x.proto"
            $0.messageType = [.with {
                $0.name = "M"
                $0.field = [.with { $0.name = "f"; $0.number = 1; $0.type = .sint64; $0.label = .repeated; $0.oneofIndex = -1 }]
                $0.nestedType = [.with { $0.name = "N"; $0.options = .with { $0.mapEntry = true } }]
            }]
            $0.sourceCodeInfo = .with { $0.location = [.with { $0.path = [4, 0, 2, -1]; $0.span = [1, 2, 3] }] }
        }
        try expectSameEncoding(file)
        #expect(try Google_Protobuf_FileDescriptorProto(serializedBytes: try ProtobufEncoding.serializedBytes(file)) == file)
    }

    @Test func unknownFieldsAreKept() throws {
        // Field 99 (varint) and field 100 (length-delimited) are not in Timestamp.
        let bytes: [UInt8] = [0x08, 0x05, 0x98, 0x06, 0x2a, 0xa2, 0x06, 0x02, 0x68, 0x69]
        let message = try Google_Protobuf_Timestamp(serializedBytes: bytes)
        #expect(!message.unknownFields.data.isEmpty)
        try expectSameEncoding(message)
        #expect(try ProtobufEncoding.serializedBytes(message) == bytes)
    }

    @Test func missingRequiredFieldsThrowAsSwiftProtobufDoes() {
        let part = Google_Protobuf_UninterpretedOption.NamePart()
        #expect(throws: BinaryEncodingError.missingRequiredFields) { try ProtobufEncoding.serializedBytes(part) }
    }

    /// Field types no message here uses, against the encodings of the protobuf specification.
    @Test(arguments: [
        (FieldCase.sint32(-1), [0x08, 0x01] as [UInt8]),
        (.sint32(Int32.min), [0x08, 0xff, 0xff, 0xff, 0xff, 0x0f]),
        (.sint64(-2), [0x08, 0x03]),
        (.fixed32(1), [0x0d, 0x01, 0x00, 0x00, 0x00]),
        (.sfixed64(-2), [0x09, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
        (.float(1), [0x0d, 0x00, 0x00, 0x80, 0x3f]),
        (.int32(-1), [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
        (.packedSInt32([-1, 1, 64]), [0x0a, 0x04, 0x01, 0x02, 0x80, 0x01]),
        (.packedFixed64([1]), [0x0a, 0x08, 0x01, 0, 0, 0, 0, 0, 0, 0]),
        (.packedBool([true, false]), [0x0a, 0x02, 0x01, 0x00]),
    ])
    func fieldTypes(_ field: FieldCase, _ expected: [UInt8]) throws {
        var sizer = SizingVisitor()
        try field.visit(&sizer)
        #expect(sizer.size == expected.count)
        let written = try [UInt8](unsafeUninitializedCapacity: sizer.size) { buffer, count in
            var writer = WritingVisitor(base: buffer.baseAddress!, capacity: sizer.size, sizes: sizer.sizes)
            try field.visit(&writer)
            count = writer.position
        }
        #expect(written == expected)
    }
}

enum FieldCase: Sendable, CustomStringConvertible {
    case sint32(Int32), sint64(Int64), fixed32(UInt32), sfixed64(Int64), float(Float), int32(Int32)
    case packedSInt32([Int32]), packedFixed64([UInt64]), packedBool([Bool])

    func visit(_ visitor: inout some Visitor) throws {
        switch self {
        case .sint32(let v): try visitor.visitSingularSInt32Field(value: v, fieldNumber: 1)
        case .sint64(let v): try visitor.visitSingularSInt64Field(value: v, fieldNumber: 1)
        case .fixed32(let v): try visitor.visitSingularFixed32Field(value: v, fieldNumber: 1)
        case .sfixed64(let v): try visitor.visitSingularSFixed64Field(value: v, fieldNumber: 1)
        case .float(let v): try visitor.visitSingularFloatField(value: v, fieldNumber: 1)
        case .int32(let v): try visitor.visitSingularInt32Field(value: v, fieldNumber: 1)
        case .packedSInt32(let v): try visitor.visitPackedSInt32Field(value: v, fieldNumber: 1)
        case .packedFixed64(let v): try visitor.visitPackedFixed64Field(value: v, fieldNumber: 1)
        case .packedBool(let v): try visitor.visitPackedBoolField(value: v, fieldNumber: 1)
        }
    }

    var description: String {
        switch self {
        case .sint32(let v): "sint32 \(v)"
        case .sint64(let v): "sint64 \(v)"
        case .fixed32(let v): "fixed32 \(v)"
        case .sfixed64(let v): "sfixed64 \(v)"
        case .float(let v): "float \(v)"
        case .int32(let v): "int32 \(v)"
        case .packedSInt32(let v): "packed sint32 \(v)"
        case .packedFixed64(let v): "packed fixed64 \(v)"
        case .packedBool(let v): "packed bool \(v)"
        }
    }
}
