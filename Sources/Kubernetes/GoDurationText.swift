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

    /// Go's `time.Duration.String()` at millisecond precision: `10.062s`, `1m0.5s`, `2h0m0s`,
    /// `500ms`, `0s` (metrics-server's `window`).
    public static func goString(milliseconds: Int64) -> String {
        if milliseconds == 0 { return "0s" }
        let negative = milliseconds < 0
        let total = negative ? -milliseconds : milliseconds
        if total < 1000 { return (negative ? "-" : "") + "\(total)ms" }
        var text = ""
        let hours = total / 3_600_000, minutes = total / 60_000 % 60, millis = total % 60_000
        if hours > 0 { text += "\(hours)h" }
        if hours > 0 || minutes > 0 { text += "\(minutes)m" }
        var seconds = "\(millis / 1000)"
        if millis % 1000 != 0 {
            var fraction = String(millis % 1000)
            fraction = String(repeating: "0", count: 3 - fraction.count) + fraction
            while fraction.hasSuffix("0") { fraction.removeLast() }
            seconds += "." + fraction
        }
        return (negative ? "-" : "") + text + seconds + "s"
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
