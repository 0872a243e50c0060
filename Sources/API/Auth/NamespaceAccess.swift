/// Which namespaces a caller may see (REFERENCE.md §1, made exact).
///
/// Admins see everything. A user sees a namespace whose owner label (default
/// `clustermon.io/owner`) is their user id; without the label, one named
/// `compute-<user_id>-...` unless a longer known user id claims it (so that user `u1` does
/// not see `compute-u1-x-web` of user `u1-x`: user ids are learnt from owner labels). `core`,
/// `kube-*` and `default` are admin-only.
public struct NamespaceAccess: Sendable {
    public var ownerLabel: String
    public var adminOnly: Set<String>

    public init(ownerLabel: String = "clustermon.io/owner", adminOnly: Set<String> = ["core", "default"]) {
        self.ownerLabel = ownerLabel
        self.adminOnly = adminOnly
    }

    /// - Parameters:
    ///   - labels: the namespace's labels, nil when the namespace is not known.
    ///   - knownOwners: user ids that own some namespace by label.
    public func canSee(_ principal: Principal, namespace: String, labels: [String: String]?, knownOwners: Set<String>) -> Bool {
        if principal.isAdmin { return true }
        if namespace.isEmpty || adminOnly.contains(namespace) || namespace.hasPrefix("kube-") { return false }
        if let owner = labels?[ownerLabel] { return owner == principal.userID }
        let prefix = "compute-\(principal.userID)-"
        guard namespace.hasPrefix(prefix) else { return false }
        // A longer user id that also prefixes this name owns it instead.
        return !knownOwners.contains { other in
            other != principal.userID && other.count > principal.userID.count && namespace.hasPrefix("compute-\(other)-")
        }
    }

    /// The user id that owns a namespace: its owner label, else the longest known owner
    /// whose `compute-<id>-` prefixes the name, else the id in `compute-<id>-...` up to the
    /// next `-`; nil for every other name.
    public func owner(of namespace: String, labels: [String: String]?, knownOwners: Set<String>) -> String? {
        if let owner = labels?[ownerLabel] { return owner }
        guard namespace.hasPrefix("compute-") else { return nil }
        if let known = knownOwners.filter({ namespace.hasPrefix("compute-\($0)-") }).max(by: { $0.count < $1.count }) { return known }
        let rest = namespace.dropFirst("compute-".count)
        guard let dash = rest.firstIndex(of: "-"), dash > rest.startIndex else { return nil }
        return String(rest[..<dash])
    }
}
