DROP TRIGGER tasks_notify_insert ON tasks;
DROP FUNCTION indox_tasks_notify();
DROP TABLE tasks;
