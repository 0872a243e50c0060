import FuzzDriver
import Aggregator
import Logging
import Messaging
import Wire

/// Bytes from NATS as the aggregator ingests them: decoding (the fast decoder checked against
/// swift-protobuf's), validation, reassembly of
/// parts and the state's update (one ingest for the whole run, so that sequences and parts
/// of earlier inputs meet later ones).
let ingest = IngestService(bus: InProcessBus(), state: ClusterState(), logger: Logger(label: "fuzz"))
fuzz { bytes in
    // The fast decoder reads exactly what swift-protobuf reads, or declines.
    if let fast = BatchDecoding.batch(bytes) {
        guard let reference = try? Agent_V1_Batch(serializedBytes: bytes), reference == fast else {
            fatalError("BatchDecoding read \(bytes.count) bytes differently from swift-protobuf")
        }
    }
    _ = ingest.handle(BusMessage(subject: "agent.v1.fuzz-node", payload: bytes))
}
