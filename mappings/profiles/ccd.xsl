<?xml version="1.0" encoding="UTF-8"?>
<!--
  C-CDA Continuity of Care Document (2.16.840.1.113883.10.20.22.1.2, R1.1
  and R2.x): the sections a CCD must carry.  A section counts when its
  LOINC code or its C-CDA section templateId says what it is, wherever it
  sits in the structured body; an empty section (nullFlavor="NI") still
  counts, which is how C-CDA says "no information".

  Problems, medications and allergies are errors (a CCD without them is
  not a CCD); results, vital signs and social history are warnings.
  Rules: CCD-001 ... (see docs/VALIDATION.md).
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:h="urn:hl7-org:v3"
    xmlns="urn:cdxgw:issues"
    exclude-result-prefixes="h">

  <xsl:output method="xml" encoding="UTF-8" indent="no"/>

  <xsl:template match="/">
    <issues>
      <xsl:apply-templates select="h:ClinicalDocument" mode="check"/>
    </issues>
  </xsl:template>

  <xsl:template match="h:ClinicalDocument" mode="check">
    <xsl:variable name="secs" select="h:component/h:structuredBody//h:section"/>
    <xsl:variable name="body" select="'/ClinicalDocument/component/structuredBody'"/>

    <!-- A CCD is structured by definition; CDA-014 already reports a
         missing body, so a nonXMLBody is the only case to add here. -->
    <xsl:if test="h:component/h:nonXMLBody">
      <issue severity="error" rule="CCD-000" location="/ClinicalDocument/component/nonXMLBody">A CCD must have a structuredBody with coded sections; send unstructured content as another document type.</issue>
    </xsl:if>

    <xsl:if test="h:component/h:structuredBody">
      <xsl:if test="not($secs[h:code/@code = '11450-4' or h:templateId/@root = '2.16.840.1.113883.10.20.22.2.5' or h:templateId/@root = '2.16.840.1.113883.10.20.22.2.5.1'])">
        <issue severity="error" rule="CCD-001" location="{$body}">The CCD has no Problem section (LOINC 11450-4, templateId 2.16.840.1.113883.10.20.22.2.5.1); add it, with nullFlavor="NI" when there is no information.</issue>
      </xsl:if>
      <xsl:if test="not($secs[h:code/@code = '10160-0' or h:templateId/@root = '2.16.840.1.113883.10.20.22.2.1' or h:templateId/@root = '2.16.840.1.113883.10.20.22.2.1.1'])">
        <issue severity="error" rule="CCD-002" location="{$body}">The CCD has no Medications section (LOINC 10160-0, templateId 2.16.840.1.113883.10.20.22.2.1.1); add it, with nullFlavor="NI" when there is no information.</issue>
      </xsl:if>
      <xsl:if test="not($secs[h:code/@code = '48765-2' or h:templateId/@root = '2.16.840.1.113883.10.20.22.2.6' or h:templateId/@root = '2.16.840.1.113883.10.20.22.2.6.1'])">
        <issue severity="error" rule="CCD-003" location="{$body}">The CCD has no Allergies and Intolerances section (LOINC 48765-2, templateId 2.16.840.1.113883.10.20.22.2.6.1); add it, with nullFlavor="NI" when there is no information.</issue>
      </xsl:if>
      <xsl:if test="not($secs[h:code/@code = '30954-2' or h:templateId/@root = '2.16.840.1.113883.10.20.22.2.3' or h:templateId/@root = '2.16.840.1.113883.10.20.22.2.3.1'])">
        <issue severity="warning" rule="CCD-004" location="{$body}">The CCD has no Results section (LOINC 30954-2); C-CDA requires one (nullFlavor="NI" when empty).</issue>
      </xsl:if>
      <xsl:if test="not($secs[h:code/@code = '8716-3' or h:templateId/@root = '2.16.840.1.113883.10.20.22.2.4' or h:templateId/@root = '2.16.840.1.113883.10.20.22.2.4.1'])">
        <issue severity="warning" rule="CCD-005" location="{$body}">The CCD has no Vital Signs section (LOINC 8716-3); C-CDA requires one (nullFlavor="NI" when empty).</issue>
      </xsl:if>
      <xsl:if test="not($secs[h:code/@code = '29762-2' or h:templateId/@root = '2.16.840.1.113883.10.20.22.2.17'])">
        <issue severity="warning" rule="CCD-006" location="{$body}">The CCD has no Social History section (LOINC 29762-2); C-CDA requires one.</issue>
      </xsl:if>
    </xsl:if>

    <xsl:if test="h:code/@code and h:code/@code != '34133-9'">
      <issue severity="warning" rule="CCD-007" location="/ClinicalDocument/code">A CCD's document code should be LOINC 34133-9 (Summarization of episode note).</issue>
    </xsl:if>

    <xsl:if test="not(h:documentationOf/h:serviceEvent[h:effectiveTime])">
      <issue severity="warning" rule="CCD-008" location="/ClinicalDocument/documentationOf">A CCD should say which period it summarises: add documentationOf/serviceEvent classCode="PCPR" with an effectiveTime.</issue>
    </xsl:if>
  </xsl:template>

</xsl:stylesheet>
