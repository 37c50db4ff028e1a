DROP TABLE browser_history;
