"""Read: from a folder of untrusted files to typed rows, one `Parsed` per batch.

Takes the input folder (discover), opens each file safely (reader, through formats/ and
layouts/), parses located values into typed tables (parse, assemble); gives `Parsed`.
"""
