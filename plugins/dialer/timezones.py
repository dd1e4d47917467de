"""A lead's time zones from its number's country code (ITU-T E.164 country codes, IANA zones).

For a country in one time zone that zone is the answer. For a country spanning several (the
North American Numbering Plan +1, Russia and Kazakhstan +7, Brazil +55, Australia +61, Mexico
+52, Spain +34 with the Canaries, Portugal +351 with the Azores, ...) the answer is every zone
of the country, and the dialer calls only when the window is open in all of them: a number is
never called at 8 o'clock in New York that is 5 o'clock in Los Angeles. A lead file with a
`time_zone` column is more precise and is preferred. Countries not in the table need that
column. The table is data, not a full numbering plan: area codes are not looked at.
"""

from __future__ import annotations

COUNTRY_ZONES: dict[str, tuple[str, ...]] = {
    "1": ("America/New_York", "America/Chicago", "America/Denver", "America/Phoenix", "America/Los_Angeles",
          "America/Anchorage", "Pacific/Honolulu", "America/Halifax", "America/St_Johns", "America/Puerto_Rico"),
    "7": ("Europe/Kaliningrad", "Europe/Moscow", "Europe/Samara", "Asia/Yekaterinburg", "Asia/Omsk",
          "Asia/Novosibirsk", "Asia/Krasnoyarsk", "Asia/Irkutsk", "Asia/Yakutsk", "Asia/Vladivostok",
          "Asia/Magadan", "Asia/Kamchatka", "Asia/Almaty", "Asia/Aqtobe"),
    "20": ("Africa/Cairo",), "27": ("Africa/Johannesburg",), "30": ("Europe/Athens",),
    "31": ("Europe/Amsterdam",), "32": ("Europe/Brussels",), "33": ("Europe/Paris",),
    "34": ("Europe/Madrid", "Atlantic/Canary"), "36": ("Europe/Budapest",), "39": ("Europe/Rome",),
    "40": ("Europe/Bucharest",), "41": ("Europe/Zurich",), "43": ("Europe/Vienna",), "44": ("Europe/London",),
    "45": ("Europe/Copenhagen",), "46": ("Europe/Stockholm",), "47": ("Europe/Oslo",), "48": ("Europe/Warsaw",),
    "49": ("Europe/Berlin",), "52": ("America/Mexico_City", "America/Cancun", "America/Chihuahua",
                                      "America/Mazatlan", "America/Tijuana"),
    "54": ("America/Argentina/Buenos_Aires",), "55": ("America/Sao_Paulo", "America/Manaus",
                                                       "America/Rio_Branco", "America/Noronha"),
    "57": ("America/Bogota",), "61": ("Australia/Sydney", "Australia/Brisbane", "Australia/Adelaide",
                                       "Australia/Darwin", "Australia/Perth"),
    "62": ("Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura"), "64": ("Pacific/Auckland",),
    "65": ("Asia/Singapore",), "81": ("Asia/Tokyo",), "82": ("Asia/Seoul",), "86": ("Asia/Shanghai",),
    "90": ("Europe/Istanbul",), "91": ("Asia/Kolkata",), "351": ("Europe/Lisbon", "Atlantic/Azores"),
    "352": ("Europe/Luxembourg",), "353": ("Europe/Dublin",), "354": ("Atlantic/Reykjavik",),
    "358": ("Europe/Helsinki",), "359": ("Europe/Sofia",), "370": ("Europe/Vilnius",), "371": ("Europe/Riga",),
    "372": ("Europe/Tallinn",), "380": ("Europe/Kyiv",), "385": ("Europe/Zagreb",), "386": ("Europe/Ljubljana",),
    "420": ("Europe/Prague",), "421": ("Europe/Bratislava",), "971": ("Asia/Dubai",), "972": ("Asia/Jerusalem",),
}


def zones_for_number(phone: str) -> tuple[str, tuple[str, ...]] | None:
    """(country code, zones) for an E.164 number ("+48..."), by the longest known code; None if unknown."""
    digits = phone.lstrip("+")
    for length in (3, 2, 1):  # E.164 country codes are 1 to 3 digits and prefix-free
        zones = COUNTRY_ZONES.get(digits[:length])
        if zones is not None:
            return digits[:length], zones
    return None
