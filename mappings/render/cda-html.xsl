<?xml version="1.0" encoding="UTF-8"?>
<!--
  cdxgw renderer: a CDA R2 document as one HTML page (header and narrative).

  An allow-list.  Narrative elements map to fixed HTML (paragraph p,
  content span, list ul/ol, item li, table parts, caption, br, sub, sup,
  footnote small); styleCode maps to a fixed set of classes; an ID becomes
  an id of the characters [A-Za-z0-9_.:-] behind the prefix "n-"; linkHtml
  becomes <a href="#..."> only when it points at an ID of this document,
  else plain text; renderMultiMedia becomes a download link (media-base +
  the observationMedia's ID) only for an embedded image/png, image/jpeg,
  image/gif or application/pdf with a plain ID, else a note.  Every other
  element, in any namespace, contributes its text and nothing else; no
  attribute of the document is copied.  The gateway's writer
  (parsers/render.c) refuses the page if anything outside its own
  allow-list comes out of here, so a mistake in this file fails closed.

  Parameter media-base: the download path to which an ID is appended ("" for
  no links).
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:h="urn:hl7-org:v3"
    exclude-result-prefixes="h">

  <xsl:output method="xml" encoding="UTF-8" omit-xml-declaration="yes" indent="no"/>

  <xsl:param name="media-base" select="''"/>

  <xsl:variable name="id-chars"
      select="'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-'"/>
  <xsl:variable name="doc" select="/h:ClinicalDocument"/>
  <!-- The page's language: the document's languageCode; without one, Korean
       for a document of the Korean realm. -->
  <xsl:variable name="lang">
    <xsl:choose>
      <xsl:when test="$doc/h:languageCode/@code"><xsl:value-of select="$doc/h:languageCode/@code"/></xsl:when>
      <xsl:when test="$doc/h:realmCode/@code = 'KR'">ko</xsl:when>
    </xsl:choose>
  </xsl:variable>
  <xsl:variable name="korean" select="starts-with(translate($lang, 'KO', 'ko'), 'ko')"/>

  <xsl:key name="ids" match="h:*[@ID]" use="@ID"/>
  <xsl:key name="media" match="h:observationMedia[@ID]" use="@ID"/>

  <!-- ==== the page ==================================================== -->

  <xsl:template match="/">
    <html lang="{$lang}">
      <head>
        <title><xsl:value-of select="$doc/h:title"/></title>
        <style>
body{font-family:system-ui,"Noto Sans KR","Malgun Gothic","Apple SD Gothic Neo",sans-serif;margin:1.5em;line-height:1.45;color:#111}
h1{font-size:1.4em;margin:0 0 .5em}
h2{font-size:1.15em;border-bottom:1px solid #999;margin-top:1.5em}
h3,h4,h5,h6{font-size:1em}
dl.cda-header{display:grid;grid-template-columns:max-content auto;gap:.2em 1em;background:#f4f4f4;padding:.7em}
dt{font-weight:bold}dd{margin:0}
table{border-collapse:collapse;margin:.5em 0}
th,td{border:1px solid #aaa;padding:.2em .5em;vertical-align:top}
th{background:#eee}
caption{font-weight:bold;text-align:left}
.b{font-weight:bold}.i{font-style:italic}.u{text-decoration:underline}.em{font-style:italic;font-weight:bold}
.lrule{border-left:1px solid #000}.rrule{border-right:1px solid #000}.toprule{border-top:1px solid #000}.botrule{border-bottom:1px solid #000}
.footnote{font-size:.85em;color:#444}
.note{color:#555;font-style:italic}
        </style>
      </head>
      <body>
        <xsl:choose>
          <xsl:when test="$doc">
            <xsl:apply-templates select="$doc" mode="header"/>
            <main>
              <xsl:apply-templates select="$doc/h:component/h:structuredBody/h:component/h:section"/>
              <xsl:if test="$doc/h:component/h:nonXMLBody">
                <p class="note">
                  <xsl:text>The body of this document is not XML (</xsl:text>
                  <xsl:value-of select="$doc/h:component/h:nonXMLBody/h:text/@mediaType"/>
                  <xsl:text>) and is not displayed.</xsl:text>
                </p>
              </xsl:if>
            </main>
          </xsl:when>
          <xsl:otherwise>
            <p class="note">This is not a CDA document.</p>
          </xsl:otherwise>
        </xsl:choose>
      </body>
    </html>
  </xsl:template>

  <!-- ==== header ====================================================== -->

  <xsl:template match="h:ClinicalDocument" mode="header">
    <header>
      <h1><xsl:value-of select="h:title"/></h1>
      <dl class="cda-header">
        <xsl:for-each select="h:recordTarget/h:patientRole">
          <dt>Patient</dt>
          <dd><xsl:apply-templates select="h:patient/h:name[1]" mode="name"/></dd>
          <xsl:if test="h:patient/h:birthTime/@value">
            <dt>Birth date</dt>
            <dd><xsl:call-template name="ts"><xsl:with-param name="v" select="h:patient/h:birthTime/@value"/></xsl:call-template></dd>
          </xsl:if>
          <xsl:if test="h:patient/h:administrativeGenderCode">
            <dt>Sex</dt>
            <dd><xsl:apply-templates select="h:patient/h:administrativeGenderCode" mode="sex"/></dd>
          </xsl:if>
        </xsl:for-each>
        <xsl:for-each select="h:author">
          <dt>Author</dt>
          <dd>
            <xsl:apply-templates select="h:assignedAuthor/h:assignedPerson/h:name[1]" mode="name"/>
            <xsl:if test="h:assignedAuthor/h:assignedAuthoringDevice">
              <xsl:value-of select="h:assignedAuthor/h:assignedAuthoringDevice/h:softwareName"/>
            </xsl:if>
            <xsl:if test="h:assignedAuthor/h:representedOrganization/h:name">
              <xsl:text> (</xsl:text>
              <xsl:value-of select="h:assignedAuthor/h:representedOrganization/h:name[1]"/>
              <xsl:text>)</xsl:text>
            </xsl:if>
            <xsl:if test="h:time/@value">
              <xsl:text>, </xsl:text>
              <xsl:call-template name="ts"><xsl:with-param name="v" select="h:time/@value"/></xsl:call-template>
            </xsl:if>
          </dd>
        </xsl:for-each>
        <xsl:if test="h:custodian">
          <dt>Custodian</dt>
          <dd><xsl:value-of select="h:custodian/h:assignedCustodian/h:representedCustodianOrganization/h:name[1]"/></dd>
        </xsl:if>
        <xsl:if test="h:effectiveTime/@value">
          <dt>Created</dt>
          <dd><xsl:call-template name="ts"><xsl:with-param name="v" select="h:effectiveTime/@value"/></xsl:call-template></dd>
        </xsl:if>
        <xsl:for-each select="h:documentationOf/h:serviceEvent/h:effectiveTime[h:low/@value or h:high/@value][1]">
          <dt>Service period</dt>
          <dd>
            <xsl:call-template name="ts"><xsl:with-param name="v" select="h:low/@value"/></xsl:call-template>
            <xsl:text> – </xsl:text>
            <xsl:call-template name="ts"><xsl:with-param name="v" select="h:high/@value"/></xsl:call-template>
          </dd>
        </xsl:for-each>
        <xsl:if test="h:confidentialityCode">
          <dt>Confidentiality</dt>
          <dd><xsl:apply-templates select="h:confidentialityCode" mode="confidentiality"/></dd>
        </xsl:if>
      </dl>
    </header>
  </xsl:template>

  <!-- A person name: Korean order (family given, no space) for Korean
       documents, else prefix given family suffix. -->
  <xsl:template match="h:name" mode="name">
    <xsl:choose>
      <xsl:when test="not(h:*)">
        <xsl:value-of select="normalize-space(.)"/>
      </xsl:when>
      <xsl:when test="$korean">
        <xsl:for-each select="h:family"><xsl:value-of select="normalize-space(.)"/></xsl:for-each>
        <xsl:for-each select="h:given"><xsl:value-of select="normalize-space(.)"/></xsl:for-each>
      </xsl:when>
      <xsl:otherwise>
        <xsl:for-each select="h:prefix | h:given | h:family | h:suffix">
          <xsl:sort select="count(self::h:prefix) * 1 + count(self::h:given) * 2 + count(self::h:family) * 3 + count(self::h:suffix) * 4" data-type="number"/>
          <xsl:if test="position() &gt; 1"><xsl:text> </xsl:text></xsl:if>
          <xsl:value-of select="normalize-space(.)"/>
        </xsl:for-each>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template match="h:administrativeGenderCode" mode="sex">
    <xsl:choose>
      <xsl:when test="@code = 'M'">Male</xsl:when>
      <xsl:when test="@code = 'F'">Female</xsl:when>
      <xsl:when test="@code = 'UN'">Undifferentiated</xsl:when>
      <xsl:when test="@displayName"><xsl:value-of select="@displayName"/></xsl:when>
      <xsl:otherwise>Unknown</xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template match="h:confidentialityCode" mode="confidentiality">
    <xsl:choose>
      <xsl:when test="@code = 'N'">Normal</xsl:when>
      <xsl:when test="@code = 'R'">Restricted</xsl:when>
      <xsl:when test="@code = 'V'">Very restricted</xsl:when>
      <xsl:otherwise><xsl:value-of select="@code"/></xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- An HL7 timestamp YYYYMMDDHHMMSS[.f][+ZZZZ] as YYYY-MM-DD HH:MM +ZZZZ,
       at the precision given; anything else as it is written. -->
  <xsl:template name="ts">
    <xsl:param name="v"/>
    <xsl:variable name="digits" select="translate(substring($v, 1, 14), '0123456789', '')"/>
    <xsl:choose>
      <xsl:when test="string-length($v) &gt;= 8 and $digits = ''">
        <xsl:value-of select="concat(substring($v, 1, 4), '-', substring($v, 5, 2), '-', substring($v, 7, 2))"/>
        <xsl:if test="string-length($v) &gt;= 12 and translate(substring($v, 9, 4), '0123456789', '') = ''">
          <xsl:value-of select="concat(' ', substring($v, 9, 2), ':', substring($v, 11, 2))"/>
        </xsl:if>
        <xsl:variable name="zone" select="concat(substring-after($v, '+'), substring-after($v, '-'))"/>
        <xsl:if test="string-length($zone) = 4">
          <xsl:value-of select="concat(' ', substring($v, string-length($v) - 4, 1), $zone)"/>
        </xsl:if>
      </xsl:when>
      <xsl:otherwise><xsl:value-of select="$v"/></xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- ==== sections ==================================================== -->

  <xsl:template match="h:section">
    <xsl:param name="level" select="2"/>
    <section>
      <xsl:call-template name="id"/>
      <xsl:variable name="h">
        <xsl:choose>
          <xsl:when test="$level &gt; 6">h6</xsl:when>
          <xsl:otherwise><xsl:value-of select="concat('h', $level)"/></xsl:otherwise>
        </xsl:choose>
      </xsl:variable>
      <xsl:element name="{$h}">
        <xsl:choose>
          <xsl:when test="h:title"><xsl:value-of select="h:title"/></xsl:when>
          <xsl:otherwise><xsl:value-of select="h:code/@displayName"/></xsl:otherwise>
        </xsl:choose>
      </xsl:element>
      <div class="narrative">
        <xsl:apply-templates select="h:text/node()" mode="n"/>
      </div>
      <xsl:apply-templates select="h:component/h:section">
        <xsl:with-param name="level" select="$level + 1"/>
      </xsl:apply-templates>
    </section>
  </xsl:template>

  <!-- ==== narrative (mode n) ========================================== -->

  <!-- Anything not named below, in any namespace: its text only. -->
  <xsl:template match="*" mode="n">
    <xsl:apply-templates select="node()" mode="n"/>
  </xsl:template>

  <xsl:template match="text()" mode="n">
    <xsl:value-of select="."/>
  </xsl:template>

  <xsl:template match="comment() | processing-instruction()" mode="n"/>

  <xsl:template match="h:paragraph" mode="n">
    <p><xsl:call-template name="common"/><xsl:apply-templates select="node()" mode="n"/></p>
  </xsl:template>

  <xsl:template match="h:content" mode="n">
    <span><xsl:call-template name="common"/><xsl:apply-templates select="node()" mode="n"/></span>
  </xsl:template>

  <xsl:template match="h:br" mode="n"><br/></xsl:template>

  <xsl:template match="h:sub" mode="n"><sub><xsl:value-of select="."/></sub></xsl:template>
  <xsl:template match="h:sup" mode="n"><sup><xsl:value-of select="."/></sup></xsl:template>

  <xsl:template match="h:list" mode="n">
    <xsl:if test="h:caption">
      <p class="caption"><xsl:apply-templates select="h:caption/node()" mode="n"/></p>
    </xsl:if>
    <xsl:choose>
      <xsl:when test="@listType = 'ordered'">
        <ol><xsl:call-template name="common"/><xsl:apply-templates select="h:item" mode="n"/></ol>
      </xsl:when>
      <xsl:otherwise>
        <ul><xsl:call-template name="common"/><xsl:apply-templates select="h:item" mode="n"/></ul>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template match="h:item" mode="n">
    <li><xsl:call-template name="common"/><xsl:apply-templates select="node()[not(self::h:caption)]" mode="n"/></li>
  </xsl:template>

  <xsl:template match="h:item/h:caption" mode="n"/>

  <xsl:template match="h:table" mode="n">
    <table>
      <xsl:call-template name="common"/>
      <xsl:if test="h:caption">
        <caption><xsl:apply-templates select="h:caption[1]/node()" mode="n"/></caption>
      </xsl:if>
      <xsl:apply-templates select="h:thead | h:tbody | h:tfoot" mode="n"/>
    </table>
  </xsl:template>

  <xsl:template match="h:thead | h:tbody | h:tfoot" mode="n">
    <xsl:element name="{local-name()}">
      <xsl:call-template name="common"/>
      <xsl:apply-templates select="h:tr" mode="n"/>
    </xsl:element>
  </xsl:template>

  <xsl:template match="h:tr" mode="n">
    <tr><xsl:call-template name="common"/><xsl:apply-templates select="h:th | h:td" mode="n"/></tr>
  </xsl:template>

  <xsl:template match="h:th | h:td" mode="n">
    <xsl:element name="{local-name()}">
      <xsl:if test="@*">
        <xsl:call-template name="common"/>
        <xsl:call-template name="span"><xsl:with-param name="v" select="@colspan"/><xsl:with-param name="name" select="'colspan'"/></xsl:call-template>
        <xsl:call-template name="span"><xsl:with-param name="v" select="@rowspan"/><xsl:with-param name="name" select="'rowspan'"/></xsl:call-template>
      </xsl:if>
      <xsl:apply-templates select="node()" mode="n"/>
    </xsl:element>
  </xsl:template>

  <xsl:template match="h:caption" mode="n">
    <xsl:apply-templates select="node()" mode="n"/>
  </xsl:template>

  <xsl:template match="h:footnote" mode="n">
    <small class="footnote"><xsl:call-template name="common"/><xsl:apply-templates select="node()" mode="n"/></small>
  </xsl:template>

  <xsl:template match="h:footnoteRef" mode="n">
    <xsl:call-template name="fragment-link">
      <xsl:with-param name="target" select="@IDREF"/>
      <xsl:with-param name="text" select="'*'"/>
    </xsl:call-template>
  </xsl:template>

  <!-- A link only to an element of this document (and never inside another
       link, which HTML would split). -->
  <xsl:template match="h:linkHtml" mode="n">
    <xsl:choose>
      <xsl:when test="starts-with(normalize-space(@href), '#') and key('ids', substring(normalize-space(@href), 2)) and not(ancestor::h:linkHtml)">
        <a href="#{concat('n-', substring(translate(substring(normalize-space(@href), 2), translate(substring(normalize-space(@href), 2), $id-chars, ''), ''), 1, 64))}">
          <xsl:call-template name="common"/>
          <xsl:apply-templates select="node()" mode="n"/>
        </a>
      </xsl:when>
      <xsl:otherwise>
        <span class="link"><xsl:call-template name="common"/><xsl:apply-templates select="node()" mode="n"/></span>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template match="h:renderMultiMedia" mode="n">
    <xsl:variable name="ref" select="normalize-space(@referencedObject)"/>
    <xsl:variable name="m" select="key('media', $ref)[1]"/>
    <xsl:variable name="type" select="normalize-space($m/h:value/@mediaType)"/>
    <xsl:variable name="ok-type" select="$type = 'image/png' or $type = 'image/jpeg' or $type = 'image/gif' or $type = 'application/pdf'"/>
    <span class="media">
      <xsl:choose>
        <xsl:when test="$m and $ok-type and $m/h:value/@representation = 'B64' and $media-base != '' and translate($ref, $id-chars, '') = '' and string-length($ref) &lt;= 80">
          <a class="download" href="{concat($media-base, $ref)}">
            <xsl:text>Attachment (</xsl:text><xsl:value-of select="$type"/><xsl:text>)</xsl:text>
          </a>
        </xsl:when>
        <xsl:when test="$m and $ok-type">
          <span class="note">[attachment (<xsl:value-of select="$type"/>) not displayed]</span>
        </xsl:when>
        <xsl:otherwise>
          <span class="note">[attachment not displayed]</span>
        </xsl:otherwise>
      </xsl:choose>
      <xsl:if test="h:caption">
        <xsl:text> </xsl:text>
        <xsl:apply-templates select="h:caption/node()" mode="n"/>
      </xsl:if>
    </span>
  </xsl:template>

  <!-- ==== attributes ================================================== -->

  <!-- class from styleCode, id from ID, lang from language. -->
  <xsl:template name="common">
    <xsl:call-template name="id"/>
    <xsl:if test="@language">
      <xsl:attribute name="lang"><xsl:value-of select="@language"/></xsl:attribute>
    </xsl:if>
    <xsl:if test="@styleCode">
      <xsl:variable name="s" select="concat(' ', normalize-space(@styleCode), ' ')"/>
      <xsl:variable name="c">
        <xsl:if test="contains($s, ' Bold ')"> b</xsl:if>
        <xsl:if test="contains($s, ' Italics ')"> i</xsl:if>
        <xsl:if test="contains($s, ' Underline ')"> u</xsl:if>
        <xsl:if test="contains($s, ' Emphasis ')"> em</xsl:if>
        <xsl:if test="contains($s, ' Lrule ')"> lrule</xsl:if>
        <xsl:if test="contains($s, ' Rrule ')"> rrule</xsl:if>
        <xsl:if test="contains($s, ' Toprule ')"> toprule</xsl:if>
        <xsl:if test="contains($s, ' Botrule ')"> botrule</xsl:if>
      </xsl:variable>
      <xsl:if test="normalize-space($c) != ''">
        <xsl:attribute name="class"><xsl:value-of select="normalize-space($c)"/></xsl:attribute>
      </xsl:if>
    </xsl:if>
  </xsl:template>

  <xsl:template name="id">
    <xsl:if test="@ID">
      <xsl:variable name="clean" select="translate(@ID, translate(@ID, $id-chars, ''), '')"/>
      <xsl:if test="$clean != ''">
        <xsl:attribute name="id"><xsl:value-of select="concat('n-', substring($clean, 1, 64))"/></xsl:attribute>
      </xsl:if>
    </xsl:if>
  </xsl:template>

  <xsl:template name="fragment-link">
    <xsl:param name="target"/>
    <xsl:param name="text"/>
    <xsl:variable name="clean" select="translate($target, translate($target, $id-chars, ''), '')"/>
    <xsl:choose>
      <xsl:when test="$clean != '' and key('ids', $target)">
        <sup><a href="#{concat('n-', substring($clean, 1, 64))}"><xsl:value-of select="$text"/></a></sup>
      </xsl:when>
      <xsl:otherwise><sup><xsl:value-of select="$text"/></sup></xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- colspan/rowspan: 1 to 999 only. -->
  <xsl:template name="span">
    <xsl:param name="v"/>
    <xsl:param name="name"/>
    <xsl:variable name="t" select="normalize-space($v)"/>
    <xsl:if test="$t != '' and string-length($t) &lt;= 3 and translate($t, '0123456789', '') = '' and number($t) &gt;= 1">
      <xsl:attribute name="{$name}"><xsl:value-of select="$t"/></xsl:attribute>
    </xsl:if>
  </xsl:template>

</xsl:stylesheet>
