"""Pure SLA-monitor rules: which timers a ticket needs and when each alert fires."""
