DROP TABLE recipients;
DROP TABLE notifications;
