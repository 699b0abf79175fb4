<?xml version="1.0" encoding="UTF-8"?>
<!--
  C-CDA US Realm Header (2.16.840.1.113883.10.20.22.1.1): the project's own
  selection of the header requirements that receivers depend on most.

  Errors are requirements every real C-CDA document we have seen meets;
  requirements that real, otherwise fine documents miss are warnings.
  Messages never copy values out of the document.  Rules: US-HDR-001 ...
  (see docs/VALIDATION.md).
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
    <!-- A Korean exchange document may declare the US Realm Header too (the
         canonical form does); its realm and language are checked by the
         Korean rule set instead. -->
    <xsl:variable name="korean"
        select="h:templateId[starts-with(@root, '1.2.410.100110.40.2.1.')]"/>

    <xsl:if test="not($korean) and not(h:realmCode[@code = 'US'])">
      <issue severity="error" rule="US-HDR-001" location="/ClinicalDocument/realmCode">realmCode code="US" is required by the US Realm Header; add &lt;realmCode code="US"/&gt; as the first child of ClinicalDocument.</issue>
    </xsl:if>

    <xsl:if test="not(h:languageCode[@code != ''])">
      <issue severity="warning" rule="US-HDR-002" location="/ClinicalDocument/languageCode">languageCode is missing; add &lt;languageCode code="en-US"/&gt; (a BCP 47 language tag).</issue>
    </xsl:if>

    <xsl:if test="not(h:title[normalize-space(.) != ''])">
      <issue severity="error" rule="US-HDR-003" location="/ClinicalDocument/title">The document title is missing or empty; add a human-readable title such as "Continuity of Care Document".</issue>
    </xsl:if>

    <xsl:variable name="eff" select="h:effectiveTime/@value"/>
    <xsl:if test="$eff and string-length(substring-before(concat(translate($eff, '+-', '  '), ' '), ' ')) &lt; 8">
      <issue severity="warning" rule="US-HDR-004" location="/ClinicalDocument/effectiveTime/@value">effectiveTime should be precise to the day at least (YYYYMMDD), preferably to the second with a time zone offset.</issue>
    </xsl:if>

    <xsl:if test="count(h:setId) != count(h:versionNumber)">
      <issue severity="warning" rule="US-HDR-005" location="/ClinicalDocument/setId">setId and versionNumber go together: a document that has one should carry the other so that later versions can replace it.</issue>
    </xsl:if>

    <xsl:for-each select="h:recordTarget">
      <xsl:variable name="at" select="concat('/ClinicalDocument/recordTarget[', position(), ']/patientRole')"/>
      <xsl:variable name="pr" select="h:patientRole"/>
      <xsl:variable name="pt" select="$pr/h:patient"/>
      <xsl:if test="not($pt/h:name)">
        <issue severity="error" rule="US-HDR-006" location="{$at}/patient/name">The patient's name is missing; add patient/name (use nullFlavor="UNK" only when it is really unknown).</issue>
      </xsl:if>
      <xsl:if test="not($pt/h:administrativeGenderCode[@code or @nullFlavor])">
        <issue severity="error" rule="US-HDR-007" location="{$at}/patient/administrativeGenderCode">The patient's administrativeGenderCode is missing; add it with a code from HL7 AdministrativeGender (2.16.840.1.113883.5.1) or a nullFlavor.</issue>
      </xsl:if>
      <xsl:if test="not($pt/h:birthTime[@value or @nullFlavor])">
        <issue severity="error" rule="US-HDR-008" location="{$at}/patient/birthTime">The patient's birthTime is missing; add it (YYYYMMDD) or give a nullFlavor.</issue>
      </xsl:if>
      <xsl:if test="not($pr/h:addr)">
        <issue severity="warning" rule="US-HDR-009" location="{$at}/addr">patientRole has no addr; the US Realm Header requires the patient's address (nullFlavor when unknown).</issue>
      </xsl:if>
      <xsl:if test="not($pr/h:telecom)">
        <issue severity="warning" rule="US-HDR-010" location="{$at}/telecom">patientRole has no telecom; the US Realm Header requires one (nullFlavor when unknown).</issue>
      </xsl:if>
    </xsl:for-each>

    <xsl:for-each select="h:author">
      <xsl:variable name="at" select="concat('/ClinicalDocument/author[', position(), ']/assignedAuthor')"/>
      <xsl:if test="h:assignedAuthor and not(h:assignedAuthor/h:id)">
        <issue severity="error" rule="US-HDR-011" location="{$at}/id">assignedAuthor has no id; add the author's identifier (for a clinician, the NPI with root 2.16.840.1.113883.4.6).</issue>
      </xsl:if>
      <xsl:if test="h:assignedAuthor and not(h:assignedAuthor/h:assignedPerson or h:assignedAuthor/h:assignedAuthoringDevice)">
        <issue severity="error" rule="US-HDR-012" location="{$at}">assignedAuthor names neither an assignedPerson nor an assignedAuthoringDevice; add the one that wrote the document.</issue>
      </xsl:if>
      <xsl:if test="h:time/@value and string-length(substring-before(concat(translate(h:time/@value, '+-', '  '), ' '), ' ')) &lt; 8">
        <issue severity="warning" rule="US-HDR-015" location="/ClinicalDocument/author[{position()}]/time">author/time should be precise to the day at least.</issue>
      </xsl:if>
    </xsl:for-each>

    <xsl:variable name="org" select="h:custodian/h:assignedCustodian/h:representedCustodianOrganization"/>
    <xsl:if test="$org and not($org/h:name)">
      <issue severity="error" rule="US-HDR-013" location="/ClinicalDocument/custodian/assignedCustodian/representedCustodianOrganization/name">The custodian organization has no name; add representedCustodianOrganization/name.</issue>
    </xsl:if>
    <xsl:if test="$org and not($org/h:telecom and $org/h:addr)">
      <issue severity="warning" rule="US-HDR-014" location="/ClinicalDocument/custodian/assignedCustodian/representedCustodianOrganization">The custodian organization should carry telecom and addr (required by the US Realm Header).</issue>
    </xsl:if>
  </xsl:template>

</xsl:stylesheet>
