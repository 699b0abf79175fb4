-- name: document class for the documents stored before it was kept
-- Shipped: never edit; add the next step as a new file. Lines join without their ends.
-- The class of a document (include/cdx/domain/doc_class.h) is stored with
-- its sort keys when the document is stored; this step gives the documents
-- already stored theirs, through cdx_doc_class, a function every registry
-- connection defines (gateway/store/query.c).
UPDATE document_keys SET class_code = (SELECT cdx_doc_class(d.type_system, d.type_code)
 FROM documents AS d WHERE d.id = document_keys.document_id) WHERE class_code IS NULL;
