import FuzzDriver
import NodeAgent

/// The network tracer's feed as the agent reads it from its unix socket.
fuzz { bytes in _ = try? TracerConnection.decodeList(bytes) }
