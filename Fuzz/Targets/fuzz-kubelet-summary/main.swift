import FuzzDriver
import Kubernetes

/// The kubelet's /stats/summary decoder: any bytes decode or throw, never crash.
fuzz { bytes in _ = try? SummaryDecoder.decode(bytes) }
