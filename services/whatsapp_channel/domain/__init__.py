"""Pure rules of the WhatsApp channel: no I/O, time passed in."""
