// Routing of scanned QR codes: browsers' FIDO:/ codes (real captures) to the hybrid screen,
// FIDO:/ texts the core could never read to a "scan again" message, everything else to
// pairing as before (where the core accepts a pairing code or says why not).
package com.passkeyphone.coreui

import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Test

class ScannedCodeTest {
    @Test
    fun browsersCodesGoToHybrid() {
        for (text in listOf(CHROME_QR, SAFARI_IOS_QR)) {
            assertEquals(ScannedCode.Hybrid(text), ScannedCode.recognize(text))
        }
    }

    @Test
    fun theSchemeIsReadInAnyAsciiCaseAndSpacesAroundAreDropped() {
        val digits = CHROME_QR.removePrefix("FIDO:/")
        assertEquals(ScannedCode.Hybrid("fido:/$digits"), ScannedCode.recognize("fido:/$digits"))
        assertEquals(ScannedCode.Hybrid("Fido:/$digits"), ScannedCode.recognize("Fido:/$digits"))
        assertEquals(ScannedCode.Hybrid(CHROME_QR), ScannedCode.recognize("  $CHROME_QR\n"))
        // A dotless i upper-cases to I in Kotlin's ignoreCase, not in the core's ASCII rule.
        val lookalike = "F\u0131DO:/$digits"
        assertEquals(ScannedCode.Pairing(lookalike), ScannedCode.recognize(lookalike))
    }

    @Test
    fun fidoTextsTheCoreCannotReadAskToScanAgain() {
        val digits = CHROME_QR.removePrefix("FIDO:/")
        for (text in listOf(
            "FIDO:/",                                 // empty tail
            "FIDO:/  ",                               // only spaces after the scheme
            "FIDO:/12a45678901234567",                // a non-digit
            "FIDO:/${digits.dropLast(1)}",            // cut: a digit count no encoding makes
            "FIDO:/1",                                // a lone digit: no chunk is 1 digit
            "FIDO:/${digits} 1",                      // inner space
            "FIDO:/\u0661\u0662\u0663",               // Arabic-Indic digits are not 0-9
            "FIDO:/" + "0".repeat(4097),              // over the core's limit
            "FIDO:/" + "0".repeat(17 * 241 + 3),      // 4100 digits, a valid count but too long
        )) {
            val seen = ScannedCode.recognize(text)
            assertEquals(text, ScannedCode.DamagedHybrid(ScannedCode.DAMAGED_HYBRID), seen)
        }
        assertEquals(
            "This sign-in code could not be read completely. Scan the code your browser shows again.",
            ScannedCode.DAMAGED_HYBRID.detail,
        )
    }

    @Test
    fun theLongestCodeTheCoreTakesIsHybrid() {
        // 4096 = 17 * 240 + 16 is no valid count; 17 * 240 + 15 = 4095 is, and within the limit.
        val text = "FIDO:/" + "0".repeat(17 * 240 + 15)
        assertEquals(ScannedCode.Hybrid(text), ScannedCode.recognize(text))
    }

    @Test
    fun pairingCodesAndEverythingElseGoToPairingUnchanged() {
        for (text in listOf(
            PAIRING_CODE,
            PAIRING_CODE.lowercase(),
            "https://ws.example.com/activate?code=0123456789ABCDEFGHJKMNPQRS",
            "passkeyphone://activate?host=ws.example.com&code=0123456789ABCDEFGHJKMNPQRS",
            "FIDO/123",
            "FIDO:123",
            "FIDO",
            "",
            "hello",
        )) {
            assertEquals(text, ScannedCode.Pairing(text), ScannedCode.recognize(text))
        }
    }

    /** Why the router is needed: before it, a browser's code went to pairing and was refused. */
    @Test
    fun aFidoCodeSentToPairingIsRefusedThere() = Fixture().use { f ->
        runBlocking {
            val pairing = PairingState(f.core, Fixture.direct)
            pairing.pair(CHROME_QR)
            assertEquals("Check what you entered", pairing.ui.value.error?.title)
            assertNull(pairing.ui.value.justPaired)
        }
    }

    companion object {
        /** Captured from Chrome and Safari on iOS (webauthn-rs's handshake tests), as in the core's tests. */
        const val CHROME_QR = "FIDO:/162870791865632382552704231438327900152302540348097243854039966655366469794954476199158014113179232779520163209900691930075274801398564434658077048963842109321447142660"
        const val SAFARI_IOS_QR = "FIDO:/089962132878132862898875319509818655951233947060166026934941652203853844930597225184066237811614893181300344014421205790072080843938838513707157859599106109321447142404"

        /** `proto/vectors/qr.json`, "pairing" -> "uri". */
        const val PAIRING_CODE = "PASSKEYPHONE:/" +
            "29098588673409444656467256996157164190166797495325000430707988256656396868816834887" +
            "24089671843867787054927232466383378700891538119744508002926294974713162293689496019" +
            "232911447008572768789211686009739780"
    }
}
