<?xml version="1.0" encoding="UTF-8"?>
<!--
  Consent documents: the Korean consent to clinical information exchange
  (1.2.410.100110.40.2.2.1.1), its withdrawal (1.2.410.100110.40.2.2.1.2)
  and IHE BPPC (1.3.6.1.4.1.19376.1.5.3.1.1.7).  The gateway turns such a
  document into the patient's consent record (docs/CONSENT.md): what it
  reads must be there and readable.
  Rules: CONSENT-001 ... (see docs/VALIDATION.md).
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
    <xsl:variable name="events" select="h:documentationOf/h:serviceEvent"/>
    <xsl:variable name="bppc" select="h:templateId[@root = '1.3.6.1.4.1.19376.1.5.3.1.1.7']"/>

    <xsl:if test="not($events)">
      <issue severity="error" rule="CONSENT-001" location="/ClinicalDocument">A consent document says what it consents to in documentationOf/serviceEvent: add one (its performers' organizations and LOINC document types are the scope; none means all).</issue>
    </xsl:if>
    <xsl:if test="$bppc and not($events/h:code[@code and (not(@codeSystem) or @codeSystem != '2.16.840.1.113883.6.1')])">
      <issue severity="error" rule="CONSENT-002" location="/ClinicalDocument/documentationOf/serviceEvent/code">A BPPC consent names the policy it acknowledges: serviceEvent/code/@code holds the policy OID.</issue>
    </xsl:if>
    <xsl:for-each select="$events/h:performer">
      <xsl:if test="not(h:assignedEntity/h:representedOrganization/h:id/@root)">
        <issue severity="error" rule="CONSENT-003" location="/ClinicalDocument/documentationOf/serviceEvent/performer">A performer of a consent's serviceEvent names the institution in assignedEntity/representedOrganization/id/@root.</issue>
      </xsl:if>
    </xsl:for-each>
    <xsl:if test="$events and not($events/h:effectiveTime/h:low/@value)">
      <issue severity="warning" rule="CONSENT-004" location="/ClinicalDocument/documentationOf/serviceEvent/effectiveTime">A consent should say from when it holds: serviceEvent/effectiveTime/low.</issue>
    </xsl:if>
    <xsl:if test="h:confidentialityCode/@code = 'V'">
      <issue severity="warning" rule="CONSENT-005" location="/ClinicalDocument/confidentialityCode">A consent document marked V is seen by its home institution only.</issue>
    </xsl:if>
  </xsl:template>

</xsl:stylesheet>
