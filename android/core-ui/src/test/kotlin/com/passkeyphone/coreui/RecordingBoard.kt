// A NoticeBoard for host tests: records every call in order, as words a test can compare.
package com.passkeyphone.coreui

import java.util.Collections

class RecordingBoard : NoticeBoard {
    val calls: MutableList<String> = Collections.synchronizedList(mutableListOf())

    /** The prompt notice on the shade now, or null. */
    @Volatile var promptWaiting: Notice? = null
        private set

    override fun showPromptWaiting(notice: Notice) {
        promptWaiting = notice
        calls += "prompt ${notice.title}: ${notice.text}"
    }

    override fun cancelPromptWaiting() {
        promptWaiting = null
        calls += "cancel prompt"
    }

    override fun showEvent(notice: Notice) {
        calls += "event ${notice.title}: ${notice.text}"
    }

    override fun showApproval(approvalId: String, notice: Notice) {
        calls += "approval $approvalId ${notice.title}: ${notice.text}"
    }

    override fun cancelApproval(approvalId: String) {
        calls += "cancel approval $approvalId"
    }
}
