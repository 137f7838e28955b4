"""Review campaigns (回访任务): targets, sampling, channel plans, deadlines, reminders."""
