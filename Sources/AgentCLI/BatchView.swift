import Foundation
import SwiftProtobuf
import Wire

/// A batch as a person reads it (`agent --once --output json|table`): addresses as text,
/// times in RFC 3339, numbers as numbers, enums by short name, pod names beside pod uids.
/// `proto-json` stays the proto3 mapping the wire contract defines.
enum BatchView {
    /// The proto3 JSON mapping (64-bit numbers as strings, bytes as base64).
    static func protoJSON(_ batch: Agent_V1_Batch) throws -> String {
        var options = JSONEncodingOptions()
        options.preserveProtoFieldNames = true
        options.useDeterministicOrdering = true
        return try batch.jsonString(options: options)
    }

    /// A person's JSON, pretty-printed with sorted keys.
    static func json(_ batch: Agent_V1_Batch) throws -> String {
        var options = JSONEncodingOptions()
        options.preserveProtoFieldNames = true
        options.alwaysPrintInt64sAsNumbers = true
        let data = try batch.jsonUTF8Data(options: options)
        let object = try JSONSerialization.jsonObject(with: data)
        let pods = podNames(batch)
        let readable = rewrite(object, key: nil, pods: pods)
        let out = try JSONSerialization.data(withJSONObject: readable, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: out, as: UTF8.self)
    }

    static func podNames(_ batch: Agent_V1_Batch) -> [String: String] {
        Dictionary(batch.pods.map { ($0.uid, "\($0.namespace)/\($0.name)") }, uniquingKeysWith: { a, _ in a })
    }

    /// Enum values' type prefixes, shortened away (`PROTOCOL_TCP` -> `tcp`).
    static let enumPrefixes = ["PROTOCOL_", "ADDRESS_FAMILY_", "DIRECTION_", "CONNECTION_SOURCE_"]

    static func rewrite(_ value: Any, key: String?, pods: [String: String]) -> Any {
        if var object = value as? [String: Any] {
            // A common.Timestamp: {seconds, nanos} -> RFC 3339.
            if Set(object.keys).isSubset(of: ["seconds", "nanos"]), !object.isEmpty, key != nil {
                let seconds = (object["seconds"] as? NSNumber)?.int64Value ?? 0
                let nanos = (object["nanos"] as? NSNumber)?.int32Value ?? 0
                return rfc3339(seconds: seconds, nanos: nanos)
            }
            for (name, child) in object { object[name] = rewrite(child, key: name, pods: pods) }
            if let uid = object["pod_uid"] as? String, !uid.isEmpty { object["pod"] = pods[uid] ?? "(not in this batch)" }
            return object
        }
        if let list = value as? [Any] { return list.map { rewrite($0, key: key, pods: pods) } }
        if let text = value as? String, let key {
            if key == "address" || key.hasSuffix("_address"), let bytes = Data(base64Encoded: text) { return address([UInt8](bytes)) }
            if let prefix = enumPrefixes.first(where: { text.hasPrefix($0) }) { return text.dropFirst(prefix.count).lowercased() }
        }
        return value
    }

    /// 4 or 16 network-order bytes as text (`10.96.1.30`, `fd00::1`); anything else as hex.
    static func address(_ bytes: [UInt8]) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        switch bytes.count {
        case 4, 16:
            let family = bytes.count == 4 ? AF_INET : AF_INET6
            let ok = bytes.withUnsafeBytes { raw in inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count)) } != nil
            if ok { return String(cString: buffer) }
            fallthrough
        default:
            return bytes.map { String(format: "%02x", $0) }.joined()
        }
    }

    static func rfc3339(seconds: Int64, nanos: Int32) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = nanos == 0 ? [.withInternetDateTime] : [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(timeIntervalSince1970: Double(seconds) + Double(nanos) / 1e9))
    }

    // MARK: - Tables

    /// The node, its collectors, pods, containers, listening ports and connections as
    /// aligned text tables.
    static func table(_ batch: Agent_V1_Batch) -> String {
        var out = ""
        let node = batch.node
        out += "node \(batch.nodeName)  agent \(batch.agentVersion)  collected \(rfc3339(seconds: batch.collectedAt.seconds, nanos: batch.collectedAt.nanos))"
        out += "  cpus \(node.cpuCount)  memory \(bytes(node.memoryTotalBytes))  kernel \(node.kernelVersion.isEmpty ? "-" : node.kernelVersion)\n\n"
        out += render(["COLLECTOR", "OK", "MS", "ERROR"], batch.collectors.map {
            [$0.name, $0.ok ? "yes" : "NO", String(format: "%.1f", Double($0.durationMicros) / 1000), $0.error]
        })
        out += "\n" + render(["FILESYSTEM", "MOUNT", "USED", "CAPACITY"], node.filesystems.map {
            [$0.name, $0.mountPoint, $0.hasUsedBytes ? bytes($0.usedBytes) : "-", $0.hasCapacityBytes ? bytes($0.capacityBytes) : "-"]
        })
        out += "\n" + render(["NAMESPACE", "POD", "PHASE", "CPU", "MEMORY", "CONTAINERS", "RESTARTS", "IP"], batch.pods.map { pod in
            let usage = pod.usage
            return [pod.namespace, pod.name, pod.phase,
                    usage.hasCpuUsageNanocores ? String(format: "%.0fm", Double(usage.cpuUsageNanocores) / 1e6) : "-",
                    usage.hasMemoryWorkingSetBytes ? bytes(usage.memoryWorkingSetBytes) : "-",
                    String(pod.containers.filter { !$0.init_p }.count), String(pod.containers.reduce(0) { $0 + Int($1.restartCount) }),
                    pod.hostNetwork ? "\(pod.ip) (host)" : pod.ip]
        })
        out += "\n" + render(["NAMESPACE", "POD", "CONTAINER", "STATE", "RESTARTS", "CPU REQ", "MEM LIMIT", "PIDS", "ID"], batch.pods.flatMap { pod in
            pod.containers.map { c in
                [pod.namespace, pod.name, c.init_p ? "\(c.name) (init)" : c.name, c.stateReason.isEmpty ? c.state : "\(c.state) (\(c.stateReason))",
                 String(c.restartCount), c.hasCpuRequestMillicores ? "\(c.cpuRequestMillicores)m" : "-",
                 c.hasMemoryLimitBytes ? bytes(c.memoryLimitBytes) : "-", String(c.pids.count), String(c.id.prefix(12))]
            }
        })
        if !node.gpus.isEmpty {
            out += "\n" + render(["GPU", "UUID", "NAME", "MEMORY USED", "MEMORY", "UTIL", "MEM UTIL", "POWER", "TEMP"], node.gpus.map { g in
                [String(g.index), g.uuid, g.name, bytes(g.memoryUsedBytes), bytes(g.memoryTotalBytes),
                 g.hasGpuUtilizationPercent ? "\(g.gpuUtilizationPercent)%" : "-", g.hasMemoryUtilizationPercent ? "\(g.memoryUtilizationPercent)%" : "-",
                 g.hasPowerMilliwatts ? String(format: "%.1f W", Double(g.powerMilliwatts) / 1000) : "-",
                 g.hasTemperatureCelsius ? "\(g.temperatureCelsius) C" : "-"]
            })
            func row(_ device: String, _ p: Agent_V1_GpuProcess, _ owner: String) -> [String] {
                [device, String(p.pid), owner, bytes(p.memoryUsedBytes), p.hasSmUtilizationPercent ? "\(p.smUtilizationPercent)%" : "-"]
            }
            var rows: [[String]] = []
            for pod in batch.pods {
                for c in pod.containers { for use in c.gpus { for p in use.processes { rows.append(row(use.deviceUuid, p, "\(pod.namespace)/\(pod.name)/\(c.name)")) } } }
            }
            for g in node.gpus { for p in g.hostProcesses { rows.append(row(g.uuid, p, "(host)")) } }
            out += "\n" + render(["GPU", "PID", "CONTAINER", "MEMORY", "SM"], rows)
        }
        let requests = batch.pods.flatMap { pod in
            pod.containers.filter { !$0.gpuRequests.isEmpty || !$0.gpuDeviceIds.isEmpty }.map { c in
                ["\(pod.namespace)/\(pod.name)/\(c.name)", c.gpuRequests.map { "\($0.name)=\($0.count)" }.joined(separator: ","),
                 c.gpuDeviceIds.isEmpty ? "-" : c.gpuDeviceIds.joined(separator: ",")]
            }
        }
        if !requests.isEmpty { out += "\n" + render(["CONTAINER", "GPU REQUESTS", "ASSIGNED DEVICES"], requests) }
        let pods = podNames(batch)
        out += "\n" + render(["PROTO", "LOCAL", "REMOTE", "DIRECTION", "POD", "SENT", "RECEIVED", "RETRANSMITS"], batch.connections.map { c in
            let proto = c.protocol == .udp ? "udp" : "tcp"
            return [proto, endpoint(c.localAddress, c.localPort), endpoint(c.remoteAddress, c.remotePort),
                    String(describing: c.direction).lowercased(), c.podUid.isEmpty ? "(host)" : pods[c.podUid] ?? c.podUid,
                    c.countersKnown ? bytes(c.sentBytes) : "-", c.countersKnown ? bytes(c.recvBytes) : "-", c.countersKnown ? String(c.retransmits) : "-"]
        })
        if batch.connectionsDropped > 0 { out += "(\(batch.connectionsDropped) connections over --max-connections not shown or shipped)\n" }
        return out
    }

    static func endpoint(_ address: Data, _ port: UInt32) -> String {
        let text = self.address([UInt8](address))
        return address.count == 16 ? "[\(text)]:\(port)" : "\(text):\(port)"
    }

    static func bytes(_ value: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var amount = Double(value), unit = 0
        while amount >= 1024, unit < units.count - 1 { amount /= 1024; unit += 1 }
        return unit == 0 ? "\(value) B" : String(format: "%.1f %@", amount, units[unit])
    }

    /// Left-aligned columns, two spaces apart; "(none)" under the header for no rows.
    static func render(_ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        var out = ""
        for row in all {
            out += row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ") + "\n"
        }
        if rows.isEmpty { out += "(none)\n" }
        return out
    }
}
