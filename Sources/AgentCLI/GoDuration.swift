import ArgumentParser
import Kubernetes

/// A duration written the Go way, as the seed flags are (`5s`, `1m30s`, `500ms`, `1h`).
public struct GoDuration: Sendable, Equatable, CustomStringConvertible, ExpressibleByArgument {
    public var duration: Duration

    public init(_ duration: Duration) { self.duration = duration }

    public init?(argument: String) {
        guard let parsed = Self.parse(argument) else { return nil }
        duration = parsed
    }

    static func parse(_ text: String) -> Duration? { GoDurationText.parse(text) }

    public var description: String { GoDurationText.format(duration) }

    public var defaultValueDescription: String { description }
}
