<?xml version="1.0" encoding="UTF-8"?>
<!--
  Hanbit University Hospital.  On top of the default mapping:

  - Hanbit's EMR codes its diagnosis section 29548-5 (Diagnosis narrative)
    where the canonical problems section is 11450-4: the section is recoded
    (the source code kept as a translation) and its bare diagnosis
    observations are restructured exactly like those of a problems section.
  - Local laboratory and panel codes (L-..., P-...) are in the hospital arc
    <institution OID>.3.1 and map to LOINC through
    codemaps/hanbit-lab-loinc.tsv; the default's generic code handling does
    that once the code map names the source system.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns="urn:hl7-org:v3"
    xmlns:h="urn:hl7-org:v3"
    xmlns:cdx="urn:cdxgw:ext"
    exclude-result-prefixes="h cdx">

  <xsl:import href="../default/normalize.xsl"/>

  <xsl:template match="h:section[h:code/@code = '29548-5'
                                 and h:code/@codeSystem = '2.16.840.1.113883.6.1']">
    <xsl:call-template name="section">
      <xsl:with-param name="code" select="'11450-4'"/>
    </xsl:call-template>
  </xsl:template>

  <!-- The section's code recoded.  The test is inside: as a predicate of
       the pattern it ran on every code element of the document, before
       the check of its parent (docs/MAPPINGS.md, "Performance"). -->
  <xsl:template match="h:section/h:code">
    <xsl:choose>
      <xsl:when test="@code = '29548-5' and @codeSystem = '2.16.840.1.113883.6.1'">
        <code code="11450-4" codeSystem="2.16.840.1.113883.6.1" codeSystemName="LOINC"
              displayName="Problem list - Reported">
          <translation>
            <xsl:copy-of select="@code|@codeSystem|@codeSystemName|@displayName"/>
          </translation>
        </code>
      </xsl:when>
      <xsl:otherwise><xsl:apply-imports/></xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template match="h:section[cdx:has-code('29548-5')]/h:entry/h:observation">
    <xsl:choose>
      <!-- C-CDA entries carry templateIds and are copied as they are. -->
      <xsl:when test="h:templateId"><xsl:call-template name="identity"/></xsl:when>
      <xsl:otherwise>
        <xsl:call-template name="problem-from-observation"/>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

</xsl:stylesheet>
