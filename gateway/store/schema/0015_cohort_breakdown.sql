-- name: research cohorts: the breakdown each cohort was answered with
-- Shipped: never edit; add the next step as a new file. Lines join without their ends.
-- The dimensions a cohort was answered with, in the order asked, joined
-- by ',' ("" for the size alone): a person set answered with one
-- breakdown is answered again only with the same one (the breakdown guard,
-- cdx_cohort_breakdown_fixed).  Cohorts kept before this step get theirs
-- from the answer sent: the crosstab's dimensions when there are two or
-- more, else the one dimension of the breakdown.
ALTER TABLE cohorts ADD COLUMN breakdown TEXT NOT NULL DEFAULT '';
UPDATE cohorts SET breakdown = coalesce(
 (SELECT group_concat(j.value, ',') FROM json_each(cohorts.answer, '$.crosstab.dimensions') AS j),
 (SELECT group_concat(j.key, ',') FROM json_each(cohorts.answer, '$.breakdown') AS j),
 '') WHERE json_valid(answer);
