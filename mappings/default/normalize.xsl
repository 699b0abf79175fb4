<?xml version="1.0" encoding="UTF-8"?>
<!--
  The default mapping: CDA R2 from any vendor to the canonical form of
  docs/CANONICAL.md.  Institution mappings import this stylesheet and
  override only what their dialect needs (see docs/MAPPINGS.md).

  Everything not handled below is copied unchanged (identity transform), so
  an unusual but well-formed document always passes through.  What it does:

  - header: adds the C-CDA R2.1 document templateIds (US Realm Header
    always, plus the analogue of every known document template, from the
    ccda-documents code map), a languageCode when missing, and puts the
    patient id of the submitting institution's patient arc first;
  - sections recognised by their LOINC code get their C-CDA R2.1 section
    templateIds (ccda-sections code map);
  - flat entries some EMRs send (a bare observation in a problem or allergy
    section, vital signs without an organizer, entries without templateIds)
    are given the C-CDA entry structure;
  - (times with a time of day but no zone get the mapping's timezone, and
    @unit spellings go to UCUM with the spelling as sent kept as a PQ
    translation of the value: not here, but in the gateway's finishing walk
    over every mapping's output, see docs/MAPPINGS.md);
  - (codes of a code system some code map translates (KCD-8, EDI, KD,
    hospital-local codes) are replaced by their target, the source code kept
    as a translation, and unknown ones reported as MAP-UNMAPPED: also in the
    finishing walk, for every coded element this stylesheet copies; the
    named template "coded" does the same for a code a template moves or
    renames, and dialects call it, see docs/MAPPINGS.md).

  Hot templates match on direct paths only (no // scans); the code maps are
  hash-free sorted tables in C reached through the cdx: extension functions.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns="urn:hl7-org:v3"
    xmlns:h="urn:hl7-org:v3"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:cdx="urn:cdxgw:ext"
    extension-element-prefixes="cdx"
    exclude-result-prefixes="h cdx xsi">

  <xsl:output method="xml" encoding="UTF-8"/>

  <!-- Set by cdx_normalize() from mapping.conf and the submitter. -->
  <xsl:param name="institution-oid" select="''"/>
  <xsl:param name="timezone" select="'+0000'"/>
  <xsl:param name="language" select="''"/>

  <xsl:variable name="patient-root" select="concat($institution-oid, '.1')"/>
  <xsl:variable name="LOINC" select="'2.16.840.1.113883.6.1'"/>
  <xsl:variable name="SNOMED" select="'2.16.840.1.113883.6.96'"/>
  <xsl:variable name="US-REALM" select="'2.16.840.1.113883.10.20.22.1.1'"/>

  <!-- ================================================================ -->
  <!-- Identity                                                          -->
  <!-- ================================================================ -->

  <!-- Elements copy their attributes without matching them: attribute
       matching is most of an identity transform's cost, and only the
       templates below that rebuild an element have attributes to rewrite.
       cdx:copy-attributes is xsl:copy-of select="@*" without an XPath
       evaluation per element (a tenth of normalizing a generated 100 KB
       document, docs/PERFORMANCE.md). -->
  <xsl:template match="*" name="identity">
    <xsl:copy>
      <cdx:copy-attributes/>
      <xsl:apply-templates/>
    </xsl:copy>
  </xsl:template>

  <!-- A language code's attributes go through templates (see the header's
       languageCode below).  Times and units are not rewritten here: the
       gateway's finishing walk does both on every mapping's output (see
       docs/MAPPINGS.md), at a fraction of what templates on every
       timestamp and measured value cost. -->
  <xsl:template match="h:languageCode">
    <xsl:copy>
      <xsl:apply-templates select="@*"/>
      <xsl:apply-templates/>
    </xsl:copy>
  </xsl:template>

  <xsl:template match="@*|comment()|processing-instruction()">
    <xsl:copy/>
  </xsl:template>

  <!-- ================================================================ -->
  <!-- Header                                                            -->
  <!-- ================================================================ -->

  <xsl:template match="/h:ClinicalDocument">
    <xsl:variable name="anchor" select="(h:realmCode|h:typeId|h:templateId)[last()]"/>
    <xsl:copy>
      <xsl:apply-templates select="@*|$anchor/preceding-sibling::node()|$anchor"/>
      <xsl:call-template name="document-templates"/>
      <xsl:apply-templates select="$anchor/following-sibling::node()"/>
      <xsl:if test="not($anchor)">
        <xsl:apply-templates select="node()"/>
      </xsl:if>
    </xsl:copy>
  </xsl:template>

  <!-- The R2.1 templateIds the header lacks.  US Realm Header always; then
       one for each source templateId the ccda-documents map knows; CCD also
       by its document code when the source names no CCD template. -->
  <xsl:template name="document-templates">
    <xsl:variable name="doc" select="."/>
    <xsl:if test="not(h:templateId[@root = $US-REALM and @extension = '2015-08-01'])">
      <templateId root="{$US-REALM}" extension="2015-08-01"/>
    </xsl:if>
    <xsl:for-each select="h:templateId[not(@root = $US-REALM)]">
      <xsl:variable name="t" select="cdx:map('ccda-documents', @root)"/>
      <xsl:variable name="root" select="string($t/@system)"/>
      <xsl:variable name="ext" select="string($t/@code)"/>
      <!-- Emit once per target: skip when the source has it, or when an
           earlier source templateId maps to the same target. -->
      <xsl:if test="$t and not($doc/h:templateId[@root = $root and @extension = $ext])
                    and not(preceding-sibling::h:templateId[
                        string(cdx:map('ccda-documents', @root)/@system) = $root])">
        <templateId root="{$root}" extension="{$ext}"/>
      </xsl:if>
    </xsl:for-each>
    <xsl:if test="h:code[@code = '34133-9' and @codeSystem = $LOINC]
                  and not(h:templateId[@root = '2.16.840.1.113883.10.20.22.1.2'])">
      <templateId root="2.16.840.1.113883.10.20.22.1.2" extension="2015-08-01"/>
    </xsl:if>
  </xsl:template>

  <!-- languageCode goes right after confidentialityCode (CDA header order). -->
  <xsl:template match="/h:ClinicalDocument/h:confidentialityCode">
    <xsl:copy>
      <xsl:apply-templates select="@*|node()"/>
    </xsl:copy>
    <xsl:if test="not(../h:languageCode) and $language != ''">
      <languageCode code="{$language}"/>
    </xsl:if>
  </xsl:template>

  <!-- Bare language subtags become the language-region form. -->
  <xsl:template match="/h:ClinicalDocument/h:languageCode/@code">
    <xsl:attribute name="code">
      <xsl:choose>
        <xsl:when test=". = 'ko' or . = 'kor' or . = 'ko_KR'">ko-KR</xsl:when>
        <xsl:when test=". = 'en' or . = 'eng' or . = 'en_US'">en-US</xsl:when>
        <xsl:otherwise><xsl:value-of select="."/></xsl:otherwise>
      </xsl:choose>
    </xsl:attribute>
  </xsl:template>

  <!-- The submitter's own patient id (root = institution OID + ".1") first. -->
  <xsl:template match="/h:ClinicalDocument/h:recordTarget/h:patientRole">
    <xsl:copy>
      <xsl:apply-templates select="@*"/>
      <xsl:apply-templates select="h:id[@root = $patient-root]"/>
      <xsl:apply-templates select="h:id[not(@root = $patient-root)]"/>
      <xsl:apply-templates select="node()[not(self::h:id)]"/>
    </xsl:copy>
  </xsl:template>

  <!-- ================================================================ -->
  <!-- Times: a TS with a time of day and no zone gets the mapping's zone -->
  <!-- (done by the finishing walk; the rule as a named template)         -->
  <!-- ================================================================ -->

  <!-- A TS with its zone when it has a time of day and none: the rule the
       finishing walk applies to every time (kept for mappings that call
       it on values the walk does not see, e.g. a time held in another
       attribute). -->
  <xsl:template name="zoned">
    <xsl:param name="ts"/>
    <xsl:variable name="digits" select="substring-before(concat($ts, '.'), '.')"/>
    <xsl:choose>
      <!-- Already zoned, a physical quantity (low/high of IVL_PQ), or no
           time of day: precision and value stay exactly as sent. -->
      <xsl:when test="contains($ts, '+') or contains($ts, '-')
                      or ../@unit or contains(../../@xsi:type, 'PQ')
                      or string-length($digits) &lt; 10
                      or translate($digits, '0123456789', '') != ''">
        <xsl:value-of select="$ts"/>
      </xsl:when>
      <xsl:otherwise>
        <xsl:value-of select="concat($ts, $timezone)"/>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- ================================================================ -->
  <!-- Units and codes                                                   -->
  <!-- ================================================================ -->

  <!-- Units: the finishing walk writes them in UCUM (units code map) and
       keeps a changed spelling as a "unit as sent" translation. -->

  <!-- Coded elements (code, value, routeCode, methodCode, targetSiteCode,
       approachSiteCode, interpretationCode) of a code system some code map
       translates are mapped by the finishing walk, on every mapping's
       output, exactly as "coded" below writes them (see docs/MAPPINGS.md):
       a template matching them all cost a predicate per element.  "coded"
       stays for restructurings that move or rename a code, and for
       dialects that name their code systems. -->

  <!-- Writes the context coded element as element $name: mapped to its
       target with the source code kept as a translation, or as sent with a
       MAP-UNMAPPED warning when the source system is one that should map.
       $system is the source code system's OID (a dialect that names its
       systems instead of giving OIDs passes the OID here).  Used by
       restructurings that move a code and by dialects; the finishing walk
       does the same for every other coded element. -->
  <xsl:template name="coded">
    <xsl:param name="name" select="local-name()"/>
    <xsl:param name="ns" select="namespace-uri()"/>
    <xsl:param name="xsi-type" select="string(@xsi:type)"/>
    <xsl:param name="system" select="string(@codeSystem)"/>
    <xsl:variable name="m" select="cdx:code($system, @code)"/>
    <xsl:variable name="plain" select="@*[not(local-name() = 'type'
        and namespace-uri() = 'http://www.w3.org/2001/XMLSchema-instance')]"/>
    <xsl:element name="{$name}" namespace="{$ns}">
      <!-- Written here: the finishing walk leaves it alone. -->
      <xsl:value-of select="cdx:coded()"/>
      <xsl:if test="$xsi-type != ''">
        <xsl:attribute name="xsi:type"><xsl:value-of select="$xsi-type"/></xsl:attribute>
      </xsl:if>
      <xsl:choose>
        <xsl:when test="$m">
          <xsl:apply-templates select="$plain[not(name() = 'code' or name() = 'codeSystem'
              or name() = 'codeSystemName' or name() = 'codeSystemVersion'
              or name() = 'displayName')]"/>
          <!-- code, codeSystem, codeSystemName and displayName of the
               target (the last two when the map knows them). -->
          <xsl:copy-of select="$m/@*"/>
          <xsl:apply-templates select="h:originalText|h:qualifier"/>
          <translation code="{@code}" codeSystem="{$system}">
            <xsl:call-template name="source-system-name">
              <xsl:with-param name="system" select="$system"/>
            </xsl:call-template>
            <xsl:copy-of select="@codeSystemVersion|@displayName"/>
          </translation>
          <xsl:apply-templates select="h:translation"/>
        </xsl:when>
        <xsl:otherwise>
          <xsl:if test="cdx:mapped-system($system)">
            <xsl:value-of select="cdx:unmapped($system, @code)"/>
          </xsl:if>
          <xsl:apply-templates select="$plain[not(name() = 'codeSystem')]"/>
          <xsl:if test="@codeSystem">
            <xsl:attribute name="codeSystem"><xsl:value-of select="$system"/></xsl:attribute>
          </xsl:if>
          <xsl:if test="not(@codeSystemName) and @codeSystem != $system">
            <xsl:attribute name="codeSystemName">
              <xsl:value-of select="@codeSystem"/>
            </xsl:attribute>
          </xsl:if>
          <xsl:apply-templates select="node()"/>
        </xsl:otherwise>
      </xsl:choose>
    </xsl:element>
  </xsl:template>

  <!-- codeSystemName of a source code: as sent, else the name a dialect
       used in place of the OID. -->
  <xsl:template name="source-system-name">
    <xsl:param name="system"/>
    <xsl:choose>
      <xsl:when test="@codeSystemName">
        <xsl:copy-of select="@codeSystemName"/>
      </xsl:when>
      <xsl:when test="@codeSystem != $system">
        <xsl:attribute name="codeSystemName"><xsl:value-of select="@codeSystem"/></xsl:attribute>
      </xsl:when>
    </xsl:choose>
  </xsl:template>

  <!-- ================================================================ -->
  <!-- Sections                                                          -->
  <!-- ================================================================ -->

  <!-- A dialect that codes a section differently calls this by name with
       the canonical LOINC code. -->
  <xsl:template match="h:section[h:code/@codeSystem = '2.16.840.1.113883.6.1']" name="section">
    <xsl:param name="code" select="string(h:code/@code)"/>
    <xsl:variable name="t" select="cdx:map('ccda-sections', $code)"/>
    <xsl:variable name="anchor" select="(h:realmCode|h:typeId|h:templateId)[last()]"/>
    <xsl:copy>
      <xsl:apply-templates select="@*|$anchor/preceding-sibling::node()|$anchor"/>
      <xsl:if test="$t">
        <xsl:call-template name="template-ids">
          <xsl:with-param name="root" select="string($t/@system)"/>
          <xsl:with-param name="ext" select="string($t/@code)"/>
        </xsl:call-template>
      </xsl:if>
      <xsl:apply-templates select="$anchor/following-sibling::node()"/>
      <xsl:if test="not($anchor)">
        <xsl:apply-templates select="node()"/>
      </xsl:if>
    </xsl:copy>
  </xsl:template>

  <!-- Emits <templateId root/> and <templateId root extension/> for the
       context element, each only when it does not carry it yet. -->
  <xsl:template name="template-ids">
    <xsl:param name="root"/>
    <xsl:param name="ext"/>
    <xsl:if test="not(h:templateId[@root = $root and not(@extension)])">
      <templateId root="{$root}"/>
    </xsl:if>
    <xsl:if test="$ext != '' and not(h:templateId[@root = $root and @extension = $ext])">
      <templateId root="{$root}" extension="{$ext}"/>
    </xsl:if>
  </xsl:template>

  <!-- Copies the context entry element, inserting templateIds after its own
       (realmCode, typeId and templateId come first in every CDA class), or
       first when it has none; comments stay where they were. -->
  <xsl:template name="with-templates">
    <xsl:param name="root"/>
    <xsl:param name="ext"/>
    <xsl:choose>
      <!-- The anchor's union and sibling axes only when there is an anchor:
           the bare entries this is written for have none, and the plain
           copy below costs much less per entry. -->
      <xsl:when test="h:realmCode or h:typeId or h:templateId">
        <xsl:variable name="anchor" select="(h:realmCode|h:typeId|h:templateId)[last()]"/>
        <xsl:copy>
          <xsl:apply-templates select="@*|$anchor/preceding-sibling::node()|$anchor"/>
          <xsl:call-template name="template-ids">
            <xsl:with-param name="root" select="$root"/>
            <xsl:with-param name="ext" select="$ext"/>
          </xsl:call-template>
          <xsl:apply-templates select="$anchor/following-sibling::node()"/>
        </xsl:copy>
      </xsl:when>
      <xsl:otherwise>
        <xsl:copy>
          <xsl:apply-templates select="@*"/>
          <templateId root="{$root}"/>
          <xsl:if test="$ext != ''">
            <templateId root="{$root}" extension="{$ext}"/>
          </xsl:if>
          <xsl:apply-templates/>
        </xsl:copy>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- ================================================================ -->
  <!-- Entries that lack the C-CDA structure (common in Korean EMRs)     -->
  <!-- C-CDA input never matches these: its entries carry templateIds.   -->
  <!-- ================================================================ -->

  <!-- Problems: a bare observation whose code is the diagnosis becomes a
       Problem Concern Act around a Problem Observation whose value is the
       diagnosis. -->
  <xsl:template match="h:section[cdx:has-code('11450-4')]/h:entry/h:observation"
                name="problem-from-observation">
    <xsl:choose>
      <!-- C-CDA entries carry templateIds and are copied as they are. -->
      <xsl:when test="h:templateId"><xsl:call-template name="identity"/></xsl:when>
      <xsl:otherwise>
        <act classCode="ACT" moodCode="EVN">
          <templateId root="2.16.840.1.113883.10.20.22.4.3"/>
          <templateId root="2.16.840.1.113883.10.20.22.4.3" extension="2015-08-01"/>
          <id nullFlavor="NI"/>
          <code code="CONC" codeSystem="2.16.840.1.113883.5.6" displayName="Concern"/>
          <statusCode>
            <xsl:attribute name="code">
              <xsl:choose>
                <xsl:when test="h:effectiveTime/h:high[@value] or h:statusCode/@code = 'completed'">completed</xsl:when>
                <xsl:otherwise>active</xsl:otherwise>
              </xsl:choose>
            </xsl:attribute>
          </statusCode>
          <xsl:apply-templates select="h:effectiveTime"/>
          <entryRelationship typeCode="SUBJ">
            <observation classCode="OBS" moodCode="EVN">
              <templateId root="2.16.840.1.113883.10.20.22.4.4"/>
              <templateId root="2.16.840.1.113883.10.20.22.4.4" extension="2015-08-01"/>
              <xsl:apply-templates select="h:id"/>
              <xsl:choose>
                <!-- A source that already has a value keeps code and value. -->
                <xsl:when test="h:value and h:code">
                  <xsl:apply-templates select="h:code"/>
                </xsl:when>
                <xsl:otherwise>
                  <code code="55607006" codeSystem="{$SNOMED}" codeSystemName="SNOMED CT"
                        displayName="Problem"/>
                </xsl:otherwise>
              </xsl:choose>
              <xsl:apply-templates select="h:text"/>
              <statusCode code="completed"/>
              <xsl:apply-templates select="h:effectiveTime"/>
              <xsl:choose>
                <xsl:when test="h:value">
                  <xsl:apply-templates select="h:value"/>
                </xsl:when>
                <xsl:otherwise>
                  <xsl:for-each select="h:code">
                    <xsl:call-template name="coded">
                      <xsl:with-param name="name" select="'value'"/>
                      <xsl:with-param name="ns" select="'urn:hl7-org:v3'"/>
                      <xsl:with-param name="xsi-type" select="'CD'"/>
                    </xsl:call-template>
                  </xsl:for-each>
                </xsl:otherwise>
              </xsl:choose>
              <!-- Everything after value in the CDA Observation, in source order. -->
              <xsl:apply-templates select="h:interpretationCode | h:methodCode | h:targetSiteCode
                  | h:subject | h:specimen | h:performer | h:author | h:informant | h:participant
                  | h:entryRelationship | h:reference | h:precondition | h:referenceRange"/>
            </observation>
          </entryRelationship>
        </act>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template match="h:section[cdx:has-code('11450-4')]/h:entry/h:act">
    <xsl:choose>
      <!-- C-CDA entries carry templateIds and are copied as they are. -->
      <xsl:when test="h:templateId"><xsl:call-template name="identity"/></xsl:when>
      <xsl:otherwise>
        <xsl:call-template name="with-templates">
          <xsl:with-param name="root" select="'2.16.840.1.113883.10.20.22.4.3'"/>
          <xsl:with-param name="ext" select="'2015-08-01'"/>
        </xsl:call-template>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template match="h:section[cdx:has-code('11450-4')]/h:entry/h:act
                       /h:entryRelationship/h:observation">
    <xsl:choose>
      <!-- C-CDA entries carry templateIds and are copied as they are. -->
      <xsl:when test="h:templateId"><xsl:call-template name="identity"/></xsl:when>
      <xsl:otherwise>
        <xsl:call-template name="with-templates">
          <xsl:with-param name="root" select="'2.16.840.1.113883.10.20.22.4.4'"/>
          <xsl:with-param name="ext" select="'2015-08-01'"/>
        </xsl:call-template>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- Allergies: a bare Allergy Intolerance Observation gets its Allergy
       Concern Act. -->
  <xsl:template match="h:section[cdx:has-code('48765-2')]/h:entry/h:observation">
    <xsl:choose>
      <!-- C-CDA entries carry templateIds and are copied as they are. -->
      <xsl:when test="h:templateId"><xsl:call-template name="identity"/></xsl:when>
      <xsl:otherwise>
        <act classCode="ACT" moodCode="EVN">
          <templateId root="2.16.840.1.113883.10.20.22.4.30"/>
          <templateId root="2.16.840.1.113883.10.20.22.4.30" extension="2015-08-01"/>
          <id nullFlavor="NI"/>
          <code code="CONC" codeSystem="2.16.840.1.113883.5.6" displayName="Concern"/>
          <statusCode code="active"/>
          <xsl:apply-templates select="h:effectiveTime"/>
          <entryRelationship typeCode="SUBJ">
            <xsl:call-template name="with-templates">
              <xsl:with-param name="root" select="'2.16.840.1.113883.10.20.22.4.7'"/>
              <xsl:with-param name="ext" select="'2014-06-09'"/>
            </xsl:call-template>
          </entryRelationship>
        </act>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template match="h:section[cdx:has-code('48765-2')]/h:entry/h:act">
    <xsl:choose>
      <!-- C-CDA entries carry templateIds and are copied as they are. -->
      <xsl:when test="h:templateId"><xsl:call-template name="identity"/></xsl:when>
      <xsl:otherwise>
        <xsl:call-template name="with-templates">
          <xsl:with-param name="root" select="'2.16.840.1.113883.10.20.22.4.30'"/>
          <xsl:with-param name="ext" select="'2015-08-01'"/>
        </xsl:call-template>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template match="h:section[cdx:has-code('48765-2')]/h:entry/h:act
                       /h:entryRelationship/h:observation">
    <xsl:choose>
      <!-- C-CDA entries carry templateIds and are copied as they are. -->
      <xsl:when test="h:templateId"><xsl:call-template name="identity"/></xsl:when>
      <xsl:otherwise>
        <xsl:call-template name="with-templates">
          <xsl:with-param name="root" select="'2.16.840.1.113883.10.20.22.4.7'"/>
          <xsl:with-param name="ext" select="'2014-06-09'"/>
        </xsl:call-template>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- Medications and immunizations. -->
  <xsl:template match="h:section[cdx:has-code('10160-0')]/h:entry
                       /h:substanceAdministration">
    <xsl:choose>
      <!-- C-CDA entries carry templateIds and are copied as they are. -->
      <xsl:when test="h:templateId"><xsl:call-template name="identity"/></xsl:when>
      <xsl:otherwise>
        <xsl:call-template name="with-templates">
          <xsl:with-param name="root" select="'2.16.840.1.113883.10.20.22.4.16'"/>
          <xsl:with-param name="ext" select="'2014-06-09'"/>
        </xsl:call-template>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template match="h:section[cdx:has-code('10160-0')]/h:entry/h:substanceAdministration
                       /h:consumable/h:manufacturedProduct">
    <xsl:choose>
      <!-- C-CDA entries carry templateIds and are copied as they are. -->
      <xsl:when test="h:templateId"><xsl:call-template name="identity"/></xsl:when>
      <xsl:otherwise>
        <xsl:call-template name="with-templates">
          <xsl:with-param name="root" select="'2.16.840.1.113883.10.20.22.4.23'"/>
          <xsl:with-param name="ext" select="'2014-06-09'"/>
        </xsl:call-template>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template match="h:section[cdx:has-code('11369-6')]/h:entry
                       /h:substanceAdministration">
    <xsl:choose>
      <!-- C-CDA entries carry templateIds and are copied as they are. -->
      <xsl:when test="h:templateId"><xsl:call-template name="identity"/></xsl:when>
      <xsl:otherwise>
        <xsl:call-template name="with-templates">
          <xsl:with-param name="root" select="'2.16.840.1.113883.10.20.22.4.52'"/>
          <xsl:with-param name="ext" select="'2015-08-01'"/>
        </xsl:call-template>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template match="h:section[cdx:has-code('11369-6')]/h:entry/h:substanceAdministration
                       /h:consumable/h:manufacturedProduct">
    <xsl:choose>
      <!-- C-CDA entries carry templateIds and are copied as they are. -->
      <xsl:when test="h:templateId"><xsl:call-template name="identity"/></xsl:when>
      <xsl:otherwise>
        <xsl:call-template name="with-templates">
          <xsl:with-param name="root" select="'2.16.840.1.113883.10.20.22.4.54'"/>
          <xsl:with-param name="ext" select="'2014-06-09'"/>
        </xsl:call-template>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- Results: organizers and their observations. -->
  <xsl:template match="h:section[cdx:has-code('30954-2')]/h:entry/h:organizer">
    <xsl:choose>
      <!-- C-CDA entries carry templateIds and are copied as they are. -->
      <xsl:when test="h:templateId"><xsl:call-template name="identity"/></xsl:when>
      <xsl:otherwise>
        <xsl:call-template name="with-templates">
          <xsl:with-param name="root" select="'2.16.840.1.113883.10.20.22.4.1'"/>
          <xsl:with-param name="ext" select="'2015-08-01'"/>
        </xsl:call-template>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template match="h:section[cdx:has-code('30954-2')]/h:entry/h:organizer/h:component
                       /h:observation">
    <xsl:choose>
      <!-- C-CDA entries carry templateIds and are copied as they are. -->
      <xsl:when test="h:templateId"><xsl:call-template name="identity"/></xsl:when>
      <xsl:otherwise>
        <xsl:call-template name="with-templates">
          <xsl:with-param name="root" select="'2.16.840.1.113883.10.20.22.4.2'"/>
          <xsl:with-param name="ext" select="'2015-08-01'"/>
        </xsl:call-template>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- Vital signs: organizers and their observations; bare observations
       (one per entry) are gathered into a single Vital Signs Organizer
       written in place of the first of them. -->
  <xsl:template match="h:section[cdx:has-code('8716-3')]/h:entry/h:organizer">
    <xsl:choose>
      <!-- C-CDA entries carry templateIds and are copied as they are. -->
      <xsl:when test="h:templateId"><xsl:call-template name="identity"/></xsl:when>
      <xsl:otherwise>
        <xsl:call-template name="with-templates">
          <xsl:with-param name="root" select="'2.16.840.1.113883.10.20.22.4.26'"/>
          <xsl:with-param name="ext" select="'2015-08-01'"/>
        </xsl:call-template>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template match="h:section[cdx:has-code('8716-3')]/h:entry/h:organizer/h:component
                       /h:observation">
    <xsl:choose>
      <!-- C-CDA entries carry templateIds and are copied as they are. -->
      <xsl:when test="h:templateId"><xsl:call-template name="identity"/></xsl:when>
      <xsl:otherwise>
        <xsl:call-template name="with-templates">
          <xsl:with-param name="root" select="'2.16.840.1.113883.10.20.22.4.27'"/>
          <xsl:with-param name="ext" select="'2014-06-09'"/>
        </xsl:call-template>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template match="h:section[cdx:has-code('8716-3')]/h:entry[h:observation[not(h:templateId)]]">
    <!-- The first of them, found by cdx:first-bare, which walks each
         section's entries once: looking back over the preceding entries
         grows with the square of the section's length, and an xsl:key
         matches its pattern against every node of the document. -->
    <xsl:if test="cdx:first-bare('observation')">
      <xsl:variable name="obs" select="../h:entry/h:observation[not(h:templateId)]"/>
      <entry typeCode="DRIV">
        <organizer classCode="CLUSTER" moodCode="EVN">
          <templateId root="2.16.840.1.113883.10.20.22.4.26"/>
          <templateId root="2.16.840.1.113883.10.20.22.4.26" extension="2015-08-01"/>
          <id nullFlavor="NI"/>
          <code code="46680005" codeSystem="{$SNOMED}" codeSystemName="SNOMED CT"
                displayName="Vital signs">
            <translation code="74728-7" codeSystem="{$LOINC}" codeSystemName="LOINC"
                displayName="Vital signs, weight, height, head circumference, oximetry, BMI, and BSA panel - HL7.CCDAr1.1"/>
          </code>
          <statusCode code="completed"/>
          <xsl:apply-templates select="$obs[1]/h:effectiveTime"/>
          <xsl:for-each select="$obs">
            <component>
              <xsl:call-template name="with-templates">
                <xsl:with-param name="root" select="'2.16.840.1.113883.10.20.22.4.27'"/>
                <xsl:with-param name="ext" select="'2014-06-09'"/>
              </xsl:call-template>
            </component>
          </xsl:for-each>
        </organizer>
      </entry>
    </xsl:if>
  </xsl:template>

  <!-- Procedures and encounters. -->
  <xsl:template match="h:section[cdx:has-code('47519-4')]/h:entry/h:procedure">
    <xsl:choose>
      <!-- C-CDA entries carry templateIds and are copied as they are. -->
      <xsl:when test="h:templateId"><xsl:call-template name="identity"/></xsl:when>
      <xsl:otherwise>
        <xsl:call-template name="with-templates">
          <xsl:with-param name="root" select="'2.16.840.1.113883.10.20.22.4.14'"/>
          <xsl:with-param name="ext" select="'2014-06-09'"/>
        </xsl:call-template>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template match="h:section[cdx:has-code('46240-8')]/h:entry/h:encounter">
    <xsl:choose>
      <!-- C-CDA entries carry templateIds and are copied as they are. -->
      <xsl:when test="h:templateId"><xsl:call-template name="identity"/></xsl:when>
      <xsl:otherwise>
        <xsl:call-template name="with-templates">
          <xsl:with-param name="root" select="'2.16.840.1.113883.10.20.22.4.49'"/>
          <xsl:with-param name="ext" select="'2015-08-01'"/>
        </xsl:call-template>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

</xsl:stylesheet>
