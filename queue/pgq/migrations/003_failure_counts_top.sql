-- FailureCounts reads the task names with most failures in the current
-- window of one length. This index holds the rows of each (window length,
-- window number) in that order, names in byte order within a count, so the
-- read walks only the rows it returns (LIMIT), however many names or dead
-- letters there are. Indexing count means a failure's update is no longer
-- HOT (it also writes an index entry); the rows are few (one per name and
-- live window), so that costs little.
CREATE INDEX failure_counts_top ON {{schema}}.failure_counts
	(window_us, window_no, count DESC, name COLLATE "C");
