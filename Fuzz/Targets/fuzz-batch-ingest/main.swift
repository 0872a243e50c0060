import FuzzDriver
import Aggregator
import Logging
import Messaging

/// Bytes from NATS as the aggregator ingests them: decoding, validation, reassembly of
/// parts and the state's update (one ingest for the whole run, so that sequences and parts
/// of earlier inputs meet later ones).
let ingest = IngestService(bus: InProcessBus(), state: ClusterState(), logger: Logger(label: "fuzz"))
fuzz { bytes in _ = ingest.handle(BusMessage(subject: "agent.v1.fuzz-node", payload: bytes)) }
