/// Durations written the Go way (`5s`, `1m30s`, `500ms`, `1h`), as the seed's flags and
/// the API's `window` parameter are.
public enum GoDurationText {
    public static func parse(_ text: String) -> Duration? {
        let units: [(String, Double)] = [("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600)]
        var rest = Substring(text)
        while rest.first?.isWhitespace == true { rest.removeFirst() }
        while rest.last?.isWhitespace == true { rest.removeLast() }
        guard !rest.isEmpty else { return nil }
        if rest == "0" { return .zero }
        var seconds = 0.0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            let unitText = rest.prefix { !$0.isNumber && $0 != "." }
            // Longest unit first, so that "ms" is not read as "m".
            guard let unit = units.filter({ $0.0 == unitText }).first else { return nil }
            seconds += value * unit.1
            rest = rest.dropFirst(unitText.count)
        }
        // Go's limit: an Int64 of nanoseconds (about 2,562,047 hours); beyond it, no duration.
        let nanoseconds = (seconds * 1e9).rounded()
        guard nanoseconds.isFinite, nanoseconds < 9.2e18 else { return nil }
        return .nanoseconds(Int64(nanoseconds))
    }

    public static func format(_ duration: Duration) -> String {
        let (s, atto) = duration.components
        if atto == 0 {
            if s % 3600 == 0 && s != 0 { return "\(s / 3600)h" }
            if s % 60 == 0 && s != 0 { return "\(s / 60)m" }
            return "\(s)s"
        }
        return "\(Int64(Double(s) * 1000 + Double(atto) / 1e15))ms"
    }

}
