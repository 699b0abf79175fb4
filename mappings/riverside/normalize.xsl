<?xml version="1.0" encoding="UTF-8"?>
<!--
  Riverside General Hospital: C-CDA R2.1 CCDs.  The generic mapping does
  all the work: the zone (-0800, mapping.conf) on times the interface engine
  sends without one, UCUM units for the US spellings (lbs, in, degF), and
  the hospital's local vaccine codes to CVX through
  codemaps/riverside-vaccines-cvx.tsv.  Kept as its own stylesheet so
  Riverside-only fixes have a place to go without touching the default.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:import href="../default/normalize.xsl"/>
</xsl:stylesheet>
