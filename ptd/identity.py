"""Normalising the keys people are matched by (pure: no ORM). Email: trimmed and lower-cased.
Phone: E.164 via phonenumbers, national numbers read as UAE (AE) unless they say otherwise."""

import phonenumbers

DEFAULT_REGION = "AE"


def normalize_email(value: str | None) -> str:
    value = (value or "").strip().lower()
    return value if "@" in value else ""


def normalize_phone(value: str | None, region: str = DEFAULT_REGION) -> str:
    """E.164 ("+971501234567") or "" when the value is not a possible number."""
    raw = (value or "").strip()
    if not raw:
        return ""
    # CallGear and others send international numbers without the plus ("971501234567").
    candidates = [raw] if raw.startswith(("+", "0")) else [raw, "+" + raw]
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return ""
