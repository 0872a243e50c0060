/// Values that repeat across cached objects, stored once.
///
/// In a cluster the namespace, node name, images, labels, owner references, container specs
/// and conditions of one pod are those of hundreds of others; Swift's strings, arrays and
/// dictionaries share their storage when they are copies of one value. Decoders ask the
/// scanner's interner for the copy it already holds (`JSONScanner.sharedString`,
/// `JSONScanner.shared`). An informer starts a new interner with every full list, so values
/// of objects that are gone are dropped within one verification interval.
///
/// Not thread-safe: one decoder uses it at a time (the informer's loop, under its lock).
public final class Interner {
    private var strings = Set<String>()
    private var sets: [ObjectIdentifier: AnyObject] = [:]

    private final class Values<T: Hashable> {
        var set = Set<T>()
    }

    public init() {}

    /// Distinct strings held.
    public var stringCount: Int { strings.count }

    public func string(_ value: String) -> String {
        // Strings of up to 15 UTF-8 bytes live inside the String value itself.
        guard value.utf8.count > 15 else { return value }
        return strings.insert(value).memberAfterInsert
    }

    public func value<T: Hashable>(_ value: T) -> T {
        let key = ObjectIdentifier(T.self)
        if let values = sets[key] as? Values<T> { return values.set.insert(value).memberAfterInsert }
        let values = Values<T>()
        sets[key] = values
        values.set.insert(value)
        return value
    }
}
