// The core's idle upkeep (`runIdleMaintenance`: the vault's WAL checkpoint, its whole-file
// check once per open, queued OBR receipts), run when the app goes to the background:
// debounced (a `schedule()` within the delay replaces the waiting one), never two runs at
// once, the outcome kept for the screens as a `CoreFailure` like every other core call.
// Pure Swift: the call itself is passed in (KitBridge's `Authenticator.idleUpkeep()`).
//
// Invariants: a run that started is never cancelled by a later `schedule()` (the next run
// waits for it); a runner that returns nil (no core open) records nothing.

/// What one idle run did (the core's `IdleMaintenance`).
public struct IdleReport: Equatable, Sendable {
    public let checkpointedPages: UInt64
    public let checkedVaultFile: Bool
    public let receiptsPosted: UInt32
    public let receiptsDropped: UInt32
    public let receiptsWaiting: UInt32

    public init(checkpointedPages: UInt64, checkedVaultFile: Bool, receiptsPosted: UInt32,
                receiptsDropped: UInt32, receiptsWaiting: UInt32) {
        self.checkpointedPages = checkpointedPages
        self.checkedVaultFile = checkedVaultFile
        self.receiptsPosted = receiptsPosted
        self.receiptsDropped = receiptsDropped
        self.receiptsWaiting = receiptsWaiting
    }
}

public actor IdleUpkeep {
    /// One run of the core's upkeep; nil while no core is open.
    public typealias Run = @Sendable () async -> Result<IdleReport, CoreFailure>?

    /// Quiet time after the last trigger (the app went to the background).
    public static let defaultDelayNanoseconds: UInt64 = 2_000_000_000

    private let run: Run
    private let delayNanoseconds: UInt64
    private var generation: UInt64 = 0
    private var lastRun: Task<Void, Never>?

    /// The last run's outcome; nil before the first run.
    public private(set) var outcome: Result<IdleReport, CoreFailure>?

    public init(delayNanoseconds: UInt64 = IdleUpkeep.defaultDelayNanoseconds, run: @escaping Run) {
        self.delayNanoseconds = delayNanoseconds
        self.run = run
    }

    /// Runs the upkeep after the delay unless `schedule()` is called again meanwhile. The task
    /// ends when this trigger's run ended (at once if a later trigger replaced it).
    @discardableResult
    public func schedule() -> Task<Void, Never> {
        generation += 1
        let mine = generation
        let delay = delayNanoseconds
        return Task {
            try? await Task.sleep(nanoseconds: delay)
            await self.fire(mine)
        }
    }

    private func fire(_ mine: UInt64) async {
        // A later schedule() replaced this trigger while it waited.
        guard mine == generation else { return }
        let previous = lastRun
        let run = self.run
        let task = Task {
            await previous?.value
            if let result = await run() {
                self.record(result)
            }
        }
        lastRun = task
        await task.value
    }

    private func record(_ result: Result<IdleReport, CoreFailure>) {
        outcome = result
    }
}
