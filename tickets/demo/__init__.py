"""`tickets demo`: the whole story of a WhatsApp ticket, driven against a running
`tickets up --demo`, and the demo-only pieces that command needs from that system."""
