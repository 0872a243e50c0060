import FuzzDriver
import Kubernetes

/// The kubelet's /pods (a PodList) decoder.
fuzz { bytes in _ = try? Pod.decodeList(bytes) }
