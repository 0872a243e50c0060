import FuzzDriver
import API

/// Kube-App's request body, parsed as `POST /api/<metric>` parses it.
fuzz { bytes in _ = kubeAppBodyProblem(bytes) }
