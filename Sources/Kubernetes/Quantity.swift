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

    /// Suffix -> (power of ten, power of 1024).
    private static let suffixes: [String: (decimal: Int, binary: Int)] = [
        "": (0, 0), "n": (-9, 0), "u": (-6, 0), "m": (-3, 0), "k": (3, 0), "M": (6, 0), "G": (9, 0), "T": (12, 0), "P": (15, 0), "E": (18, 0),
        "Ki": (0, 1), "Mi": (0, 2), "Gi": (0, 3), "Ti": (0, 4), "Pi": (0, 5), "Ei": (0, 6),
    ]

    /// Exact: digits and exponents in integer arithmetic (a `Double` would round 16 GiB in
    /// thousandths, which is past 2^53). Fractions of a thousandth round up, as Kubernetes does.
    static func parse(_ raw: String) -> Quantity? {
        let text = raw.trimmingCharacters(in: .whitespaces)
        var rest = Substring(text)
        var negative = false
        if let sign = rest.first, sign == "+" || sign == "-" {
            negative = sign == "-"
            rest = rest.dropFirst()
        }
        var digits: Int128 = 0
        var scale = 0  // power of ten applied to `digits`
        var sawDigit = false, sawPoint = false
        while let c = rest.first, c.isASCII, c.isNumber || (c == "." && !sawPoint) {
            rest = rest.dropFirst()
            if c == "." { sawPoint = true; continue }
            sawDigit = true
            guard digits < Int128(1) << 100 else { return nil }
            digits = digits * 10 + Int128(c.asciiValue! - 48)
            if sawPoint { scale -= 1 }
        }
        guard sawDigit else { return nil }
        var binary = 0
        if let unit = suffixes[String(rest)] {
            scale += unit.decimal
            binary = unit.binary
        } else if rest.first == "e" || rest.first == "E", let exponent = Int(rest.dropFirst()), abs(exponent) < 30 {
            scale += exponent
        } else {
            return nil
        }
        scale += 3  // thousandths
        var milli = digits << (10 * binary)
        if scale >= 0 {
            for _ in 0..<scale {
                milli *= 10
                guard milli < Int128(Int64.max) else { return nil }
            }
        } else {
            var divisor: Int128 = 1
            for _ in 0..<(-scale) { divisor *= 10 }
            milli = (milli + divisor - 1) / divisor
        }
        guard milli <= Int128(Int64.max) else { return nil }
        return Quantity(milliValue: negative ? -Int64(milli) : Int64(milli))
    }

    /// CPU in Kubernetes' canonical form: whole cores (`4`) or millicores (`500m`, `1500m`).
    public static func formatCPU(millicores: Int64) -> String {
        millicores % 1000 == 0 ? "\(millicores / 1000)" : "\(millicores)m"
    }

    /// `value` x 10^`exponent` in Kubernetes' canonical DecimalSI form (what `Quantity.String`
    /// prints): trailing zeros taken out three at a time into the largest exact suffix,
    /// `137052385n`, `137052u`, `250m`, `2`, `3k`.
    public static func canonicalDecimal(_ value: UInt64, exponent: Int = 0) -> String {
        guard value > 0 else { return "0" }
        let suffixes: [Int: String] = [-9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"]
        var mantissa = value, exponent = exponent
        // The exponent must be a multiple of three: a mantissa times 10 or 100 first.
        while exponent % 3 != 0 { mantissa *= 10; exponent -= 1 }
        while mantissa % 1000 == 0 && exponent < 18 { mantissa /= 1000; exponent += 3 }
        return "\(mantissa)\(suffixes[exponent] ?? "e\(exponent)")"
    }

    /// CPU in nanocores as metrics-server writes it (`resource.NewScaledQuantity(n, -9)`).
    public static func canonicalCPU(nanocores: UInt64) -> String { canonicalDecimal(nanocores, exponent: -9) }

    /// Bytes as `resource.NewQuantity(b, BinarySI)` prints them: under 1024 in DecimalSI
    /// (`512`, `1k`); else divided by 1024 while exact (`1426520Ki`, `2Gi`, `1460756481`).
    public static func canonicalBytes(_ bytes: UInt64) -> String {
        if bytes < 1024 { return canonicalDecimal(bytes) }
        let suffixes = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
        var mantissa = bytes, power = 0
        while mantissa % 1024 == 0 && power < 6 { mantissa /= 1024; power += 1 }
        return "\(mantissa)\(suffixes[power])"
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
