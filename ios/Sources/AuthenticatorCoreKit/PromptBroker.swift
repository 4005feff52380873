// Hands the core's questions ("Sign in to example.com?", "Which account?") to the screen and
// its answers back. The core awaits `UserInterface` calls on its own threads; the app shows
// one question at a time, in order. When the core gives up (its timeout, or the transport
// was cancelled) the Swift task running the callback is cancelled, and the question must
// leave the screen at once with the "declined" answer: the broker does both.

import Foundation

public final class PromptBroker<Question: Sendable, Answer: Sendable>: @unchecked Sendable {
    /// One question waiting for the user.
    public struct Pending: Identifiable, Sendable {
        public let id: UInt64
        public let question: Question
    }

    private struct Waiter {
        let pending: Pending
        let continuation: CheckedContinuation<Answer, Never>
    }

    // Everything below the lock is guarded by it.
    private let lock = NSLock()
    private var waiters: [Waiter] = []
    private var nextId: UInt64 = 1
    /// Ids handed out by `ask` whose question is not queued yet.
    private var reserved: Set<UInt64> = []
    /// Reserved ids whose task was cancelled before the question was queued.
    private var cancelledEarly: Set<UInt64> = []

    private let declined: Answer
    private let onChange: @Sendable () -> Void

    /// `declined` is the answer when a question is withdrawn. `onChange` is called, on
    /// whatever thread made the change, whenever `current` may have changed.
    public init(declined: Answer, onChange: @escaping @Sendable () -> Void) {
        self.declined = declined
        self.onChange = onChange
    }

    /// The question to show now, if any (the oldest one).
    public var current: Pending? {
        lock.lock()
        defer { lock.unlock() }
        return waiters.first?.pending
    }

    /// How many questions wait, the one on screen included.
    public var waitingCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return waiters.count
    }

    /// Queues `question` and waits for the user's answer, or for the task's cancellation.
    public func ask(_ question: Question) async -> Answer {
        let id = reserveId()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Answer, Never>) in
                enqueue(Waiter(pending: Pending(id: id, question: question),
                               continuation: continuation))
            }
        } onCancel: {
            finish(id: id, with: nil)
        }
    }

    /// The user answered question `id`. A stale id (already withdrawn) is ignored.
    public func answer(_ id: UInt64, with answer: Answer) {
        finish(id: id, with: answer)
    }

    /// Withdraws every question, e.g. when the app leaves the foreground.
    public func declineAll() {
        lock.lock()
        let all = waiters
        waiters.removeAll()
        lock.unlock()
        guard !all.isEmpty else { return }
        onChange()
        for waiter in all { waiter.continuation.resume(returning: declined) }
    }

    private func reserveId() -> UInt64 {
        lock.lock()
        defer { lock.unlock() }
        let id = nextId
        nextId += 1
        reserved.insert(id)
        return id
    }

    private func enqueue(_ waiter: Waiter) {
        let id = waiter.pending.id
        lock.lock()
        reserved.remove(id)
        // Cancelled before it was queued: answer at once rather than show a question that
        // nobody waits for.
        if cancelledEarly.remove(id) != nil {
            lock.unlock()
            waiter.continuation.resume(returning: declined)
            return
        }
        waiters.append(waiter)
        let isHead = waiters.count == 1
        lock.unlock()
        if isHead { onChange() }
    }

    /// Resumes the waiter `id` with `answer` (nil: declined, from a cancellation).
    private func finish(id: UInt64, with answer: Answer?) {
        lock.lock()
        guard let index = waiters.firstIndex(where: { $0.pending.id == id }) else {
            if answer == nil, reserved.contains(id) { cancelledEarly.insert(id) }
            lock.unlock()
            return
        }
        let waiter = waiters.remove(at: index)
        lock.unlock()
        if index == 0 { onChange() }
        waiter.continuation.resume(returning: answer ?? declined)
    }
}
