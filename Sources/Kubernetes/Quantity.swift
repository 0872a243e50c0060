/// A Kubernetes resource quantity (`100m`, `1.5`, `128Mi`, `1G`, `1e3`), exactly as the API
/// server writes them.
public struct Quantity: Sendable, Hashable, CustomStringConvertible {
    /// The value in thousandths of the unit: millicores for CPU, millibytes for memory.
    public var milliValue: Int64

    public init(milliValue: Int64) { self.milliValue = milliValue }

    public init?(_ text: String) {
        guard let parsed = Quantity.parse(text) else { return nil }
        self = parsed
    }

    /// Whole units, rounded up (as Kubernetes does for bytes).
    public var value: Int64 { milliValue >= 0 ? (milliValue + 999) / 1000 : milliValue / 1000 }

    public var description: String { Quantity.formatCPU(millicores: milliValue) }

    private static let suffixes: [(String, Double)] = [
        ("Ki", 1024), ("Mi", 1_048_576), ("Gi", 1_073_741_824), ("Ti", 1_099_511_627_776),
        ("Pi", 1_125_899_906_842_624), ("Ei", 1_152_921_504_606_846_976),
        ("n", 1e-9), ("u", 1e-6), ("m", 1e-3), ("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12), ("P", 1e15), ("E", 1e18),
    ]

    static func parse(_ raw: String) -> Quantity? {
        let text = raw.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty else { return nil }
        var numberEnd = text.startIndex
        var sawDigit = false
        for index in text.indices {
            let c = text[index]
            if c.isNumber { sawDigit = true; numberEnd = text.index(after: index); continue }
            if (c == "+" || c == "-") && index == text.startIndex { numberEnd = text.index(after: index); continue }
            if c == "." { numberEnd = text.index(after: index); continue }
            break
        }
        guard sawDigit, let number = Double(text[..<numberEnd]) else { return nil }
        let suffix = text[numberEnd...]
        var multiplier = 1.0
        if suffix.isEmpty {
            multiplier = 1
        } else if let unit = suffixes.first(where: { $0.0 == suffix }) {
            multiplier = unit.1
        } else if suffix.first == "e" || suffix.first == "E", let exponent = Int(suffix.dropFirst()) {
            multiplier = pow10(exponent)
        } else {
            return nil
        }
        let milli = (number * multiplier * 1000).rounded(.up)
        guard milli.isFinite, abs(milli) < 9.2e18 else { return nil }
        return Quantity(milliValue: Int64(milli))
    }

    private static func pow10(_ exponent: Int) -> Double {
        var result = 1.0
        for _ in 0..<abs(exponent) { result *= 10 }
        return exponent < 0 ? 1 / result : result
    }

    /// CPU in Kubernetes' canonical form: whole cores (`4`) or millicores (`500m`, `1500m`).
    public static func formatCPU(millicores: Int64) -> String {
        millicores % 1000 == 0 ? "\(millicores / 1000)" : "\(millicores)m"
    }

    /// Bytes in the largest binary unit that keeps it exact to two decimals: `2Gi`, `1.5Gi`,
    /// `512Mi`, `100Ki`, or plain bytes.
    public static func formatBytes(_ bytes: UInt64) -> String {
        let units: [(String, UInt64)] = [("Ei", 1 << 60), ("Pi", 1 << 50), ("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)]
        for (name, size) in units where bytes >= size {
            if bytes % size == 0 { return "\(bytes / size)\(name)" }
            let hundredths = UInt64((Double(bytes) / Double(size) * 100).rounded())
            let whole = hundredths / 100, fraction = hundredths % 100
            if fraction == 0 { return "\(whole)\(name)" }
            return fraction % 10 == 0 ? "\(whole).\(fraction / 10)\(name)" : "\(whole).\(fraction < 10 ? "0" : "")\(fraction)\(name)"
        }
        return "\(bytes)"
    }
}

extension String {
    func trimmingCharacters(in set: Set<Character>) -> String {
        var s = Substring(self)
        while let c = s.first, set.contains(c) { s = s.dropFirst() }
        while let c = s.last, set.contains(c) { s = s.dropLast() }
        return String(s)
    }
}

extension Set where Element == Character {
    static let whitespaces: Set<Character> = [" ", "\t", "\n", "\r"]
}
