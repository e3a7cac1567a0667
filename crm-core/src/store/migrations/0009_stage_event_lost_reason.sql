-- Schema version 9: an event into a lost stage keeps the lost reason given with it. The deal's
-- own `lost_reason` is cleared when it is reopened, and an exported history replayed by the
-- importer needs the reason again for each time the deal entered a lost stage.

ALTER TABLE deal_stage_events ADD COLUMN lost_reason TEXT;

-- Deals lost now: the reason belongs to the event that brought them into their stage (the
-- latest one). Reasons of earlier lost spells were not kept and stay NULL.
UPDATE deal_stage_events
SET lost_reason = (SELECT d.lost_reason FROM deals d WHERE d.id = deal_stage_events.deal_id)
WHERE id IN (
    SELECT (SELECT e.id FROM deal_stage_events e
            WHERE e.deal_id = d.id AND e.to_stage_id = d.stage_id
            ORDER BY e.at DESC, e.id DESC LIMIT 1)
    FROM deals d
    WHERE d.status = 3 AND d.lost_reason IS NOT NULL
);
