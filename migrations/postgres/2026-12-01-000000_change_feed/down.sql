DROP TABLE change_feed;
