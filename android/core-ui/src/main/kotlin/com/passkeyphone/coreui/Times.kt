// Times the core gives (seconds since the Unix epoch) as the screens show them.
package com.passkeyphone.coreui

import java.text.DateFormat
import java.util.Date

/** A local date and time (medium date, short time) unless [format] says otherwise. */
fun formatTime(
    unixSeconds: ULong,
    format: DateFormat = DateFormat.getDateTimeInstance(DateFormat.MEDIUM, DateFormat.SHORT),
): String = format.format(Date(unixSeconds.toLong() * 1000))
