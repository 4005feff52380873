// Where the vault lives on the phone and how the file system protects it: a folder in
// Application Support, excluded from backups (the Secure Enclave key that wraps the vault
// key never leaves the phone, so a restored copy could not be opened anyway), with the
// "until first user authentication" file protection class so that the link service can
// serve a computer while the phone is locked, but never before the first unlock since boot.

import Foundation

public enum VaultLocation {
    /// The folder name under Application Support.
    static let folderName = "authenticator"
    /// The core's vault file inside that folder (`Authenticator.open` names it).
    static let vaultFileName = "vault.db"

    /// The data folder for `Authenticator.open`, created and protected on first use.
    public static func directory(fileManager: FileManager = .default) throws -> URL {
        let support = try fileManager.url(for: .applicationSupportDirectory,
                                          in: .userDomainMask, appropriateFor: nil,
                                          create: true)
        var folder = support.appendingPathComponent(folderName, isDirectory: true)
        var attributes: [FileAttributeKey: Any] = [:]
        #if os(iOS)
        attributes[.protectionKey] = FileProtectionType.completeUntilFirstUserAuthentication
        #endif
        try fileManager.createDirectory(at: folder, withIntermediateDirectories: true,
                                        attributes: attributes)
        var values = URLResourceValues()
        values.isExcludedFromBackup = true
        try folder.setResourceValues(values)
        return folder
    }

    /// False when a vault file exists but cannot be read yet: file protection keeps it
    /// closed until the first unlock since boot. Opening then would only fail; the app waits.
    public static func isReadable(in folder: URL, fileManager: FileManager = .default) -> Bool {
        let file = folder.appendingPathComponent(vaultFileName)
        guard fileManager.fileExists(atPath: file.path) else { return true }
        guard let handle = try? FileHandle(forReadingFrom: file) else { return false }
        defer { try? handle.close() }
        do {
            _ = try handle.read(upToCount: 1)
            return true
        } catch {
            return false
        }
    }
}
