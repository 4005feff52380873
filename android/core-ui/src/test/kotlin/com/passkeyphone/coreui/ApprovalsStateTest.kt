// The approvals screen's state against the real core: no requests on a new phone, deciding an
// unknown one is NotFound, and workspace updates merge into the list.
package com.passkeyphone.coreui

import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Test
import uniffi.authenticator_core.ApprovalRequest
import uniffi.authenticator_core.EnrollmentInfo
import uniffi.authenticator_core.KeyState
import uniffi.authenticator_core.RefusedApproval
import uniffi.authenticator_core.WorkspaceUpdate

class ApprovalsStateTest {
    @Test
    fun noApprovalsOnANewPhone() = Fixture().use { f ->
        runBlocking {
            val approvals = ApprovalsState(f.core, Fixture.direct)
            approvals.load()
            assertEquals(emptyList<Any>(), approvals.ui.value.pending)
            assertNull(approvals.ui.value.error)
            assertEquals(emptyList<Any>(), f.core.auditLog())
        }
    }

    @Test
    fun decidingAnUnknownRequestIsNotFound() = Fixture().use { f ->
        runBlocking {
            val approvals = ApprovalsState(f.core, Fixture.direct)
            approvals.decide("00112233445566778899aabbccddeeff", approve = false)
            assertEquals("Not found", approvals.ui.value.error?.title)
            assertNull(approvals.ui.value.lastOutcome)
        }
    }

    @Test
    fun aMalformedRequestIdIsInvalidInput() = Fixture().use { f ->
        runBlocking {
            val approvals = ApprovalsState(f.core, Fixture.direct)
            approvals.decide("AAAAAAAAAAAAAAAAAAAAAA", approve = false)
            assertEquals("This is not an approval's id.", approvals.ui.value.error?.detail)
            assertNull(approvals.ui.value.lastOutcome)
        }
    }

    @Test
    fun workspaceUpdatesMergeIntoTheList() = Fixture().use { f ->
        val approvals = ApprovalsState(f.core, Fixture.direct)
        val enrollment = EnrollmentInfo(KeyState.ACTIVE, "Acme", "alice@acme.example", "Alice", "sk1", false)
        fun request(id: String, expires: ULong) =
            ApprovalRequest(id, "Bob Admin", "Acme", listOf("crm.example", "hr.example"), 2u, expires)
        approvals.apply(WorkspaceUpdate(enrollment, listOf(request("b", 20u), request("a", 10u)), emptyList(), emptyList()))
        assertEquals(listOf("a", "b"), approvals.ui.value.pending.map { it.id })
        approvals.apply(WorkspaceUpdate(enrollment, listOf(request("a", 10u)), listOf("b"), emptyList()))
        assertEquals(listOf("a"), approvals.ui.value.pending.map { it.id })
        approvals.apply(WorkspaceUpdate(enrollment, emptyList(), emptyList(), listOf(RefusedApproval("a", "expired"))))
        assertEquals(emptyList<Any>(), approvals.ui.value.pending)
        assertEquals(
            "Bob Admin (Acme) asks to register 2 passkeys for you at crm.example, hr.example.",
            ApprovalsState.summary(request("c", 1u)),
        )
    }
}
