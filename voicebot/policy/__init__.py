"""What the service refuses to do with what callers and contact files hand it: pure cores.

    numbers.py     outbound numbers: E.164 prefixes/regions allowed, premium and special
                   ranges refused (campaign import, the dialer, transfers to a number)
    transfers.py   transfer targets built at run time must match the allow-list
    redaction.py   slots marked `sensitive: true` and the keys collected for them, masked
    card_numbers.py  card-like numbers (Luhn, 13-19 digits; digits, words, 汉字) redacted
                   from what call records keep, the last four digits kept

Settings (`transfers:`, `outbound:`, in voicebot/settings.py) build these; nothing here reads a
file, a clock or the network.
"""
